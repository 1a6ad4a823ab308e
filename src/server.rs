//! Bootstrap: builds the shared state, registers the two API services, gRPC health (overall and
//! per service), server reflection (v1 and v1alpha, so `grpcurl` works without `.proto` files)
//! and opt-in gRPC-Web, sets up TLS ([`tls`]) and the `Host`/origin guard ([`guard`]), and
//! serves until a shutdown signal, draining in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::Config;
use crate::defender::DefenderError;
use crate::proto::action_service_server::ActionServiceServer;
use crate::services::{ActionHandlers, FastPathRiskServer};
use crate::state::{AppState, StateError};

pub mod conn;
pub mod guard;
pub mod tls;
pub mod write_buffer;

use tls::{TlsError, TlsReloader, TlsSetup};

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
    /// The TLS certificate, key or client CA could not be loaded.
    #[error("TLS set-up failed: {0}")]
    Tls(#[from] TlsError),
}

impl From<StateError> for ServerError {
    fn from(err: StateError) -> Self {
        match err {
            StateError::Defender(err) => Self::Defender(err),
            StateError::Audit(err) => Self::Audit(err),
        }
    }
}

/// A server running in the background (used by `demo` and the tests).
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
    tls: Option<TlsReloader>,
    admin: Option<crate::admin::AdminServer>,
}

impl RunningServer {
    /// Re-reads the TLS files now (what SIGHUP and the file watch do); `None` without TLS.
    pub fn tls_reloader(&self) -> Option<&TlsReloader> {
        self.tls.as_ref()
    }

    /// The admin listener's address (`/metrics`, `/healthz`, `/readyz`); `None` when `off`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Stops accepting, drains in-flight calls and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = match self.task.await {
            Ok(result) => result,
            Err(join) => Err(ServerError::Task(join.to_string())),
        };
        if let Some(admin) = self.admin.take() {
            admin.shutdown().await;
        }
        result
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
    let prepared = prepare(config).await?;
    let admin = start_admin(&prepared.state).await?;
    let tls = prepared.tls.as_ref().map(|t| t.reloader.clone());
    let task = tokio::spawn(run(prepared, listener, async move {
        let _ = rx.await;
    }));
    Ok(RunningServer {
        addr,
        shutdown: Some(tx),
        task,
        tls,
        admin,
    })
}

/// Binds and starts the admin listener unless it is `off`.
async fn start_admin(
    state: &Arc<AppState>,
) -> Result<Option<crate::admin::AdminServer>, ServerError> {
    let Some(addr) = state.config.admin_listen else {
        return Ok(None);
    };
    let bind_error = |source| ServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let admin =
        crate::admin::AdminServer::spawn(listener, Arc::clone(state)).map_err(bind_error)?;
    Ok(Some(admin))
}

/// Serves on `config.listen` until `signal` completes, then drains and returns.
pub async fn serve(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let prepared = prepare(config).await?;
    let admin = start_admin(&prepared.state).await?;
    tracing::info!(
        %addr,
        tls = prepared.tls.is_some(),
        grpc_web = prepared.grpc_web,
        admin = %admin.as_ref().map_or_else(|| "off".to_string(), |a| a.addr.to_string()),
        "defender-bridge listening"
    );
    let result = run(prepared, listener, signal).await;
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    result?;
    tracing::info!("defender-bridge stopped");
    Ok(())
}

/// Everything built before the first connection is accepted.
struct Prepared {
    router: Router,
    state: Arc<AppState>,
    tls: Option<TlsSetup>,
    grpc_web: bool,
    /// The caller authentication, reloaded on SIGHUP.
    callers: Option<Arc<crate::auth::Authenticator>>,
}

async fn prepare(config: Config) -> Result<Prepared, ServerError> {
    let tls = config
        .tls
        .as_ref()
        .map(|files| TlsSetup::new(files, config.grpc_web))
        .transpose()?;
    if config.insecure_plaintext {
        tracing::warn!(
            listen = %config.listen,
            "serving PLAINTEXT (--insecure-plaintext): calls and credentials cross the network unencrypted unless a sidecar in front of this service terminates TLS"
        );
    }
    let grpc_web = config.grpc_web;
    let state = Arc::new(AppState::new(config)?);
    // The fleet table's sync task (when `--fleet-sync` is on) ends when shutdown starts.
    let _fleet_sync = crate::fleet::sync::start(&state);
    let (router, callers) = build(state.clone()).await?;
    Ok(Prepared {
        router,
        state,
        tls,
        grpc_web,
        callers,
    })
}

/// Accepts and serves until `signal`, then drains (bounded by the shutdown grace).
async fn run(
    prepared: Prepared,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Prepared {
        router,
        state,
        tls,
        callers,
        ..
    } = prepared;
    // One SIGHUP handler for every file this server reads (admin/reload.rs).
    let hangup = Arc::new(crate::admin::reload::Reloader::new(
        Arc::clone(&state),
        callers,
        tls.as_ref().map(|t| t.reloader.clone()),
    ))
    .on_sighup();
    let limits = state.config.limits.clone();
    let grace = state.config.shutdown_grace;
    let stopping = state.shutdown.clone();
    let watcher = tls.as_ref().map(|t| {
        tokio::spawn(
            t.reloader
                .clone()
                .watch(tls::RELOAD_POLL, std::future::pending::<()>()),
        )
    });
    let acceptor = tls.map(|t| t.acceptor);
    let incoming = conn::incoming(
        listener,
        limits.max_connections,
        limits.idle_timeout,
        acceptor,
    );
    let (signalled_tx, signalled_rx) = oneshot::channel::<()>();
    let server = router.serve_with_incoming_shutdown(incoming, async move {
        signal.await;
        stopping.send_replace(true);
        let _ = signalled_tx.send(());
    });
    let result = drain_bounded(server, signalled_rx, grace).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    hangup.abort();
    result
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
            tower::layer::util::Stack<
                tonic_web::GrpcWebLayer,
                tower::layer::util::Stack<guard::GuardLayer, tower::layer::util::Identity>,
            >,
        >,
    >,
>;

async fn build(
    state: Arc<AppState>,
) -> Result<(Router, Option<Arc<crate::auth::Authenticator>>), ServerError> {
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
    let callers = auth.clone();
    let limits = &state.config.limits;
    let health_service = health_service
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let actions = ActionServiceServer::new(ActionHandlers::new(state.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limits.max_request_message_bytes)
        .max_encoding_message_size(limits.max_response_message_bytes);
    let router = Server::builder()
        // HTTP/1.1 only for gRPC-Web (browser) callers, and only when gRPC-Web is on.
        .accept_http1(state.config.grpc_web)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(limits.http2_keepalive)
        // Outermost: a request for a foreign Host or from an unlisted origin goes no further.
        .layer(guard::GuardLayer::new(guard::Policy::from_config(
            &state.config,
        )))
        .layer(tonic_web::GrpcWebLayer::new())
        // Inside gRPC-Web: counts calls in flight per connection for the idle timeout.
        .layer(conn::ActivityLayer)
        // Innermost, so it sees the gRPC method path and the connection's client certificate.
        .layer(
            crate::auth::AuthLayer::new(auth).with_observer(crate::auth::CallObserver::new(&state)),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // `FastPathRiskServer` is the generated `RiskServiceServer` with an encoded fast path for
        // `GetEndpointRisk` cache hits (see services/risk/fast_path.rs).
        .add_service(FastPathRiskServer::new(state))
        .add_service(actions);
    Ok((router, callers))
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
