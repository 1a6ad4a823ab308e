//! Bootstrap: builds the shared state, registers the two API services, gRPC health (overall and
//! per service), server reflection (v1 and v1alpha, so `grpcurl` works without `.proto` files)
//! and gRPC-Web, and serves until a shutdown signal, draining in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::actions::ActionRuntime;
use crate::cache::RiskCache;
use crate::config::Config;
use crate::defender::{DefenderClient, DefenderError};
use crate::page_token::PageTokenSigner;
use crate::proto::action_service_server::ActionServiceServer;
use crate::services::{ActionApi, RiskServer};

pub mod conn;

/// The fully qualified names of the API services, as health and reflection report them.
pub const SERVICE_NAMES: [&str; 2] = [
    "defenderbridge.v1.RiskService",
    "defenderbridge.v1.ActionService",
];

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Defender client could not be built from the settings.
    #[error("invalid Defender settings: {0}")]
    Defender(#[from] DefenderError),
    /// Reflection descriptors could not be loaded.
    #[error("reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The audit log could not be opened (actions fail closed: no start without it).
    #[error("cannot open the audit log: {0}")]
    Audit(#[from] crate::actions::AuditError),
    /// The callers file could not be loaded (caller authentication fails closed).
    #[error("{0}")]
    Callers(#[from] crate::auth::CallersError),
    /// The server task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(String),
}

/// What every RPC handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The resolved configuration.
    pub config: Config,
    /// The Defender client; `None` while the integration is disabled.
    pub defender: Option<DefenderClient>,
    /// Risk and look-up caches; the actions call `invalidate_machine` on it.
    pub cache: RiskCache,
    /// Signs and verifies the list RPCs' page tokens.
    pub page_tokens: PageTokenSigner,
    /// The action side: `request_id` store, audit log, watch pollers.
    pub actions: ActionRuntime,
    /// One permit per open `StreamFleetRisk` stream (`limits.max_fleet_streams`).
    pub fleet_streams: Arc<Semaphore>,
    /// Set to true when shutdown starts: server streams end with SERVER_SHUTTING_DOWN.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Builds the state (and the Defender client when the integration is enabled); opens the
    /// audit log.
    pub fn new(config: Config) -> Result<Self, ServerError> {
        let defender = match (&config.defender, config.enabled) {
            (Some(settings), true) => Some(DefenderClient::new(settings.clone())?),
            _ => None,
        };
        let page_tokens = match &config.defender {
            Some(settings) => PageTokenSigner::from_settings(settings),
            None => PageTokenSigner::random(),
        };
        Ok(Self {
            fleet_streams: Arc::new(Semaphore::new(
                config.limits.max_fleet_streams.min(Semaphore::MAX_PERMITS),
            )),
            cache: RiskCache::new(&config.cache),
            actions: ActionRuntime::new(config.audit_log.as_deref(), config.action_settle_window)?,
            config,
            defender,
            page_tokens,
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }
}

/// A server running in the background (used by `demo` and the tests).
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Stops accepting, drains in-flight calls and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(ServerError::Task(join.to_string())),
        }
    }
}

/// Binds `config.listen` and serves in the background.
pub async fn spawn(config: Config) -> Result<RunningServer, ServerError> {
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    spawn_on(config, listener).await
}

/// Serves on an already-bound listener in the background (tests bind `127.0.0.1:0`).
pub async fn spawn_on(config: Config, listener: TcpListener) -> Result<RunningServer, ServerError> {
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let (tx, rx) = oneshot::channel::<()>();
    let grace = config.shutdown_grace;
    let limits = config.limits.clone();
    let state = Arc::new(AppState::new(config)?);
    let stopping = state.shutdown.clone();
    let router = build(state).await?;
    let task = tokio::spawn(async move {
        let incoming = conn::incoming(listener, limits.max_connections, limits.idle_timeout);
        let (signalled_tx, signalled_rx) = oneshot::channel::<()>();
        let server = router.serve_with_incoming_shutdown(incoming, async move {
            let _ = rx.await;
            stopping.send_replace(true);
            let _ = signalled_tx.send(());
        });
        drain_bounded(server, signalled_rx, grace).await
    });
    Ok(RunningServer {
        addr,
        shutdown: Some(tx),
        task,
    })
}

/// Serves on `config.listen` until `signal` completes, then drains and returns.
pub async fn serve(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = config.listen;
    let router_grace = config.shutdown_grace;
    let limits = config.limits.clone();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let state = Arc::new(AppState::new(config)?);
    let stopping = state.shutdown.clone();
    let router = build(state).await?;
    tracing::info!(%addr, "defender-bridge listening");
    let grace = router_grace;
    let incoming = conn::incoming(listener, limits.max_connections, limits.idle_timeout);
    let (signalled_tx, signalled_rx) = oneshot::channel::<()>();
    let server = router.serve_with_incoming_shutdown(incoming, async move {
        signal.await;
        stopping.send_replace(true);
        let _ = signalled_tx.send(());
    });
    drain_bounded(server, signalled_rx, grace).await?;
    tracing::info!("defender-bridge stopped");
    Ok(())
}

/// Runs `server` to completion, but once shutdown has been signalled gives in-flight calls at
/// most `grace` to finish: idle client connections can otherwise hold a tonic/hyper graceful
/// shutdown open indefinitely (hyperium/hyper#4170), and an orchestrator would SIGKILL us.
async fn drain_bounded(
    server: impl Future<Output = Result<(), tonic::transport::Error>>,
    signalled: oneshot::Receiver<()>,
    grace: Duration,
) -> Result<(), ServerError> {
    tokio::pin!(server);
    let deadline = async move {
        if signalled.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = &mut server => result.map_err(ServerError::from),
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain period over; closing remaining connections");
            Ok(())
        }
    }
}

type Router = tonic::transport::server::Router<
    tower::layer::util::Stack<
        crate::auth::AuthLayer,
        tower::layer::util::Stack<
            conn::ActivityLayer,
            tower::layer::util::Stack<tonic_web::GrpcWebLayer, tower::layer::util::Identity>,
        >,
    >,
>;

async fn build(state: Arc<AppState>) -> Result<Router, ServerError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, state.config.enabled).await;

    let reflection_v1 = crate::reflection::builder()?.build_v1()?;
    let reflection_v1alpha = crate::reflection::builder()?.build_v1alpha()?;

    // With a callers file every call is authenticated, authorized and limited by one layer.
    let auth = match &state.config.callers {
        Some(path) => Some(crate::auth::Authenticator::start(
            path,
            state.config.caller_limits,
        )?),
        None => None,
    };
    let limits = &state.config.limits;
    Ok(Server::builder()
        // HTTP/1.1 is accepted only so that gRPC-Web (browser) callers can reach the API.
        .accept_http1(true)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(limits.http2_keepalive)
        .layer(tonic_web::GrpcWebLayer::new())
        // Inside gRPC-Web: counts calls in flight per connection for the idle timeout.
        .layer(conn::ActivityLayer)
        // Innermost, so it sees the gRPC method path and the connection's client certificate.
        .layer(crate::auth::AuthLayer::new(auth))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // `RiskServer` is the generated `RiskServiceServer` with an encoded fast path for
        // `GetEndpointRisk` cache hits (see services/risk_server.rs).
        .add_service(RiskServer::new(state.clone()))
        .add_service(ActionServiceServer::new(ActionApi::new(state))))
}

/// Overall (`""`) and per-service health: SERVING when enabled, NOT_SERVING when disabled.
async fn set_health(health: &HealthReporter, enabled: bool) {
    let status = if enabled {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status("", status).await;
    for name in SERVICE_NAMES {
        health.set_service_status(name, status).await;
    }
}

/// Completes on SIGTERM or Ctrl-C (graceful shutdown for orchestrators and terminals).
///
/// The handlers are installed when this is called, not when the future is first polled, so a
/// signal that arrives right after start-up (e.g. right after `demo` prints its banner) is
/// never lost to the default action. Must be called inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            let (mut terminate, mut interrupt) = match (terminate, interrupt) {
                (Ok(t), Ok(i)) => (t, i),
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM/SIGINT");
                    return std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("Ctrl-C received, draining"),
                _ = terminate.recv() => tracing::info!("SIGTERM received, draining"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C received, draining");
            } else {
                std::future::pending::<()>().await;
            }
        }
    }
}
