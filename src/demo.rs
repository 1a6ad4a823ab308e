//! `defender-bridge demo`: the simulator on an ephemeral loopback port plus the service wired to
//! it, with no configuration and no credentials. Also used by the client tests in other
//! languages, which start `demo` on free ports.

use std::net::SocketAddr;

use secrecy::SecretString;

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
}

/// A running demo.
pub struct RunningDemo {
    /// The simulator.
    pub sim: SimHandle,
    /// The service.
    pub server: RunningServer,
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
    let config = Config::resolve(&service_args(&sim, &sim_config, options.listen))?;
    let server = server::spawn(config).await?;
    Ok(RunningDemo { sim, server })
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
        let addr = self.server.addr;
        let id = self.sim.fleet().sample_machine_id().to_string();
        let sim = self.sim.base_url();
        format!(
            "defender-bridge demo is up.\n\
             \n  gRPC service:        {addr}  (plaintext, loopback only)\
             \n  Defender simulator:  {sim}  (request log: {sim}/_sim/requests)\
             \n\nTry it (grpcurl needs no .proto files: the service serves reflection):\n\
             \n  grpcurl -plaintext {addr} list\
             \n  grpcurl -plaintext {addr} describe defenderbridge.v1.RiskService\
             \n  grpcurl -plaintext {addr} grpc.health.v1.Health/Check\
             \n  grpcurl -plaintext {addr} defenderbridge.v1.RiskService/CheckConnection\
             \n  grpcurl -plaintext -d '{{\"machine_id\": \"{id}\"}}' {addr} defenderbridge.v1.RiskService/GetEndpointRisk\
             \n\nPress Ctrl-C to stop.\n"
        )
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
        };
        let err = start(options).await.err().expect("refused");
        assert!(matches!(err, DemoError::SimulatorNotLoopback(_)), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
