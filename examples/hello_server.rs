//! The hello-world baseline of `scripts/bench-grpc.sh`: a plain tonic server, in its own
//! process, whose only RPC is `grpc.health.v1.Health/Check` from `tonic-health`, a standard
//! unary call with a tiny answer (`status: SERVING`, 2 bytes). It is the cheapest unary gRPC
//! call tonic serves, so the benchmark divides the service's figures by this one's.
//!
//! ```text
//! hello_server [LISTEN=127.0.0.1:50061] [CERT.pem KEY.pem]
//! ```
//!
//! With a certificate and key it serves TLS (tonic's rustls with the ring provider, TLS 1.2+,
//! ALPN h2): the baseline of the benchmark's `--secure` rounds, which measure what TLS and
//! caller authentication add per call.
//!
//! Kept as close to the service as a hello-world can be, so the ratio measures the service's
//! own work and not a difference in set-up: the same tonic, the same tokio multi-thread
//! runtime (one worker per core, built as `src/main.rs` builds it), the same global allocator
//! (mimalloc, unless built with `--no-default-features`), and the server settings the service
//! uses for every call by default: HTTP/2 only (HTTP/1 is accepted only when gRPC-Web is
//! enabled), the gRPC-Web layer, TCP_NODELAY. It has none of the service's own work: no
//! connection cap or idle timer, no Host/Origin guard, no caller authentication, no
//! reflection, no cache.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

// The same allocator as the `defender-bridge` binary (src/main.rs).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50061".to_string());
    let tls = match (std::env::args().nth(2), std::env::args().nth(3)) {
        (Some(cert), Some(key)) => match (std::fs::read(&cert), std::fs::read(&key)) {
            (Ok(cert), Ok(key)) => Some(tonic::transport::Identity::from_pem(cert, key)),
            _ => {
                eprintln!("error: cannot read {cert} or {key}");
                return ExitCode::from(2);
            }
        },
        (None, None) => None,
        _ => {
            eprintln!("error: give both CERT.pem and KEY.pem, or neither");
            return ExitCode::from(2);
        }
    };
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(err) => {
            eprintln!("error: bad listen address {listen:?}: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(addr, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    addr: SocketAddr,
    tls: Option<tonic::transport::Identity>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind(addr).await?;
    // The script waits for this line before it sends anything.
    println!("hello_server listening on {}", listener.local_addr()?);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    if let Some(identity) = tls {
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    builder
        .layer(tonic_web::GrpcWebLayer::new())
        .add_service(health)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
