//! Test harness: starts the simulator and the service on ephemeral loopback ports and hands out
//! gRPC clients and a Defender client wired to the simulator.

#![allow(dead_code, missing_docs)]

pub mod actions;
pub mod callers;
pub mod hunting;
pub mod process;
pub mod risk;
pub mod tls;

use std::time::Duration;

use defender_bridge::config::{Config, ServeArgs};
use defender_bridge::defender::{Cloud, Credential, DefenderClient, DefenderSettings};
use defender_bridge::demo::service_args;
use defender_bridge::proto::action_service_client::ActionServiceClient;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::proto::{EndpointRisk, GetEndpointRiskRequest};
use defender_bridge::server::{self, RunningServer};
use defender_bridge::sim::{self, SimConfig, SimHandle};
use secrecy::SecretString;
use tonic::transport::Channel;

/// A simulator plus a service pointed at it.
pub struct TestEnv {
    pub sim: SimHandle,
    pub sim_config: SimConfig,
    pub server: RunningServer,
    pub channel: Channel,
}

/// A small fleet without rate limits: fast and deterministic.
pub fn sim_config() -> SimConfig {
    SimConfig {
        machines: 200,
        rate_limits: false,
        ..SimConfig::default()
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    sim::spawn(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

impl TestEnv {
    pub async fn start(sim_config: SimConfig) -> Self {
        Self::start_with(sim_config, |_| {}).await
    }

    /// Starts with the service settings adjusted by `tweak`.
    pub async fn start_with(sim_config: SimConfig, tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        let sim = start_sim(sim_config.clone()).await;
        let mut args = service_args(&sim, &sim_config, "127.0.0.1:0".parse().expect("addr"));
        tweak(&mut args);
        let config = Config::resolve(&args).expect("valid config");
        let server = server::spawn(config).await.expect("server starts");
        let channel = connect(server.addr).await;
        Self {
            sim,
            sim_config,
            server,
            channel,
        }
    }

    pub fn risk(&self) -> RiskServiceClient<Channel> {
        RiskServiceClient::new(self.channel.clone())
    }

    pub fn actions(&self) -> ActionServiceClient<Channel> {
        ActionServiceClient::new(self.channel.clone())
    }

    /// The id of the simulated fleet's sample machine (the same one every time).
    pub fn sample_machine_id(&self) -> String {
        self.sim.fleet().sample_machine_id().to_string()
    }

    /// `GetEndpointRisk`, which must succeed.
    pub async fn endpoint_risk(&self, request: GetEndpointRiskRequest) -> EndpointRisk {
        self.risk()
            .get_endpoint_risk(request)
            .await
            .expect("ok")
            .into_inner()
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
        self.sim.shutdown().await;
    }
}

pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the service")
}

/// Settings for a Defender client that talks to `sim`.
pub fn defender_settings(sim: &SimHandle, config: &SimConfig) -> DefenderSettings {
    let base: url::Url = sim.base_url().parse().expect("url");
    let mut settings = DefenderSettings::new(
        Cloud::Commercial,
        config.tenant_id.clone(),
        config.client_id.clone(),
        Credential::Secret(SecretString::from(config.client_secret.clone())),
    );
    settings.api_url = Some(base.clone());
    settings.login_url = Some(base.clone());
    settings.graph_url = Some(base);
    settings
}

pub fn defender_client(sim: &SimHandle, config: &SimConfig) -> DefenderClient {
    DefenderClient::new(defender_settings(sim, config)).expect("client")
}

/// Token requests the simulator saw for a scope containing `scope_part`.
pub fn token_requests(sim: &SimHandle, scope_part: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .filter(|r| {
            r.body
                .as_deref()
                .map(|b| percent_decode(b).contains(scope_part))
                .unwrap_or(false)
        })
        .count()
}

/// Requests to Defender API paths starting with `prefix`.
pub fn api_requests(sim: &SimHandle, prefix: &str) -> Vec<defender_bridge::sim::RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect()
}
