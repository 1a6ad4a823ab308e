//! `defender-bridge demo`: the simulator on an ephemeral loopback port plus the service wired to
//! it, with no configuration and no credentials. Also used by the client tests in other
//! languages, which start `demo` on free ports. `demo --tls` adds TLS, mTLS and a callers file
//! with throw-away credentials ([`tls`]).

pub mod pki;
pub mod tls;

use std::net::SocketAddr;

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{Config, ConfigError, ServeArgs};
use crate::server::{self, RunningServer, ServerError};
use crate::sim::{self, SimConfig, SimHandle};

/// What `demo` starts.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The service's gRPC address.
    pub listen: SocketAddr,
    /// The simulator's address (port 0: any free port).
    pub sim_listen: SocketAddr,
    /// Fleet size.
    pub machines: usize,
    /// Fleet seed.
    pub seed: u64,
    /// Serve TLS with client certificates required, and a callers file (throw-away CA, server
    /// and client certificates, API key).
    pub tls: bool,
    /// Admin listener (`/metrics`, `/healthz`, `/readyz`): an address or `off`; `None` picks a
    /// free loopback port (several demos run side by side in the client tests).
    pub admin_listen: Option<String>,
    /// With `tls`: write the generated files into this folder (created when missing) instead of
    /// a temporary one; they are removed from it when the demo stops.
    pub tls_dir: Option<std::path::PathBuf>,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulator could not bind.
    #[error("cannot start the simulator on {addr}: {source}")]
    Simulator {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The generated configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The service could not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The simulator address is not a loopback address.
    #[error(
        "--sim-listen {0} is not a loopback address: the simulator has no authentication (its token endpoint, fault control and request log, which holds bearer tokens, would be open to the network); use 127.0.0.1 or ::1"
    )]
    SimulatorNotLoopback(SocketAddr),
    /// The throw-away certificates could not be written.
    #[error("demo TLS set-up: {0}")]
    Tls(String),
}

/// A running demo.
pub struct RunningDemo {
    /// The simulator.
    pub sim: SimHandle,
    /// The service.
    pub server: RunningServer,
    /// The generated certificates, key and callers file (`demo --tls`).
    pub tls: Option<tls::DemoTls>,
}

/// Starts the simulator, then the service pointed at it.
pub async fn start(options: DemoOptions) -> Result<RunningDemo, DemoError> {
    if !options.sim_listen.ip().is_loopback() {
        return Err(DemoError::SimulatorNotLoopback(options.sim_listen));
    }
    let sim_config = SimConfig {
        machines: options.machines,
        seed: options.seed,
        ..SimConfig::default()
    };
    let sim = sim::spawn(sim_config.clone(), options.sim_listen)
        .await
        .map_err(|source| DemoError::Simulator {
            addr: options.sim_listen,
            source,
        })?;
    let mut args = service_args(&sim, &sim_config, options.listen);
    args.admin_listen = Some(
        options
            .admin_listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".into()),
    );
    // The demo serves the whole fleet warm (docs/fleet-table.md).
    args.fleet.fleet_sync = Some(true);
    let tls = if options.tls {
        let generated =
            tls::DemoTls::generate(options.tls_dir.as_deref()).map_err(DemoError::Tls)?;
        args.tls_cert = Some(generated.path("server.pem"));
        args.tls_key = Some(generated.path("server.key"));
        args.tls_client_ca = Some(generated.path("ca.pem"));
        args.callers = Some(generated.path("callers.toml"));
        Some(generated)
    } else {
        None
    };
    let config = Config::resolve(&args)?;
    let server = server::spawn(config).await?;
    Ok(RunningDemo { sim, server, tls })
}

/// The service settings that point at a simulator (also used by tests).
pub fn service_args(sim: &SimHandle, sim_config: &SimConfig, listen: SocketAddr) -> ServeArgs {
    let base: Option<url::Url> = sim.base_url().parse().ok();
    ServeArgs {
        listen: Some(listen),
        enabled: Some(true),
        tenant_id: Some(sim_config.tenant_id.clone()),
        client_id: Some(sim_config.client_id.clone()),
        client_secret: Some(SecretString::from(sim_config.client_secret.clone())),
        api_url: base.clone(),
        login_url: base.clone(),
        graph_url: base,
        ..ServeArgs::default()
    }
}

impl RunningDemo {
    /// The text `demo` prints: where things listen and ready-to-paste `grpcurl` commands that
    /// use a real machine id from the fleet.
    pub fn banner(&self) -> String {
        if let Some(tls) = &self.tls {
            return self.tls_banner(tls);
        }
        let addr = self.server.addr;
        let id = self.sim.fleet().sample_machine_id().to_string();
        let sim = self.sim.base_url();
        let admin = self.admin_line();
        format!(
            "defender-bridge demo is up.\n\
             \n  gRPC service:        {addr}  (plaintext, loopback only)\
             \n  Defender simulator:  {sim}  (request log: {sim}/_sim/requests)\
             \n  {admin}\
             \n\nTry it (grpcurl needs no .proto files: the service serves reflection):\n\
             \n  grpcurl -plaintext {addr} list\
             \n  grpcurl -plaintext {addr} describe defenderbridge.v1.RiskService\
             \n  grpcurl -plaintext {addr} grpc.health.v1.Health/Check\
             \n  grpcurl -plaintext {addr} defenderbridge.v1.RiskService/CheckConnection\
             \n  grpcurl -plaintext -d '{{\"machine_id\": \"{id}\"}}' {addr} defenderbridge.v1.RiskService/GetEndpointRisk\
             \n\nPress Ctrl-C to stop.\n"
        )
    }

    /// The banner of `demo --tls`: the files, and grpcurl commands with the client certificate
    /// alone and with the API key too.
    fn tls_banner(&self, tls: &tls::DemoTls) -> String {
        let addr = self.server.addr;
        let id = self.sim.fleet().sample_machine_id().to_string();
        let sim = self.sim.base_url();
        let dir = tls.dir().display();
        let admin = self.admin_line();
        let key = tls.api_key.expose_secret();
        let client = tls::CLIENT_IDENTITY;
        let creds = format!("-cacert {dir}/ca.pem -cert {dir}/client.pem -key {dir}/client.key");
        format!(
            "defender-bridge demo is up, with TLS and client certificates required (mTLS).\n\
             \n  gRPC service:        {addr}  (TLS 1.2/1.3, loopback only)\
             \n  Defender simulator:  {sim}  (request log: {sim}/_sim/requests)\
             \n  {admin}\
             \n  throw-away files:    {dir}  (removed when the demo stops)\
             \n    ca.pem             CA of the server and client certificates\
             \n    server.pem/.key    server certificate (localhost, 127.0.0.1, ::1)\
             \n    client.pem/.key    client certificate, identity {client}\
             \n    callers.toml       callers file: that identity and the API key below\
             \n    api-key            the API key below, for scripts\
             \n  API key:             {key}\
             \n\nAs the client certificate's identity (cert:{client}):\n\
             \n  grpcurl {creds} {addr} list\
             \n  grpcurl {creds} {addr} defenderbridge.v1.RiskService/CheckConnection\
             \n  grpcurl {creds} -d '{{\"machine_id\": \"{id}\"}}' {addr} defenderbridge.v1.RiskService/GetEndpointRisk\
             \n\nWith the API key (key:demo; the connection still presents the client certificate, as mTLS is on):\n\
             \n  grpcurl {creds} -H 'authorization: Bearer {key}' {addr} defenderbridge.v1.RiskService/CheckConnection\
             \n\nPress Ctrl-C to stop.\n"
        )
    }

    /// The banner's admin line: where `/metrics` is, or that it is off.
    fn admin_line(&self) -> String {
        match self.server.admin_addr() {
            Some(admin) => {
                format!("admin (HTTP):        http://{admin}/metrics  /healthz  /readyz")
            }
            None => "admin (HTTP):        off".to_string(),
        }
    }

    /// Stops the service, then the simulator.
    pub async fn shutdown(self) {
        if let Err(err) = self.server.shutdown().await {
            tracing::warn!(error = %err, "service did not stop cleanly");
        }
        self.sim.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_simulator_is_refused_on_a_network_address() {
        let options = DemoOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            sim_listen: "0.0.0.0:0".parse().expect("addr"),
            machines: 1,
            seed: 1,
            tls: false,
            admin_listen: None,
            tls_dir: None,
        };
        let err = start(options).await.err().expect("refused");
        assert!(matches!(err, DemoError::SimulatorNotLoopback(_)), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
