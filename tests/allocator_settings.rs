//! The allocator setting docs/memory.md relies on: `serve` runs with mimalloc's purge delay 0
//! (freed memory goes back to the system at once), set by re-executing itself, in the same
//! process; a value the operator set is kept. Linux only (reads `/proc/PID/environ`).
#![cfg(all(target_os = "linux", feature = "mimalloc"))]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{sim_config, start_sim};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_serve(sim_base: &str, port: u16, purge_delay: Option<&str>) -> Child {
    let config = sim_config();
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender-bridge"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEFENDER_BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DEFENDER_BRIDGE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("DEFENDER_API_URL", sim_base)
        .env("DEFENDER_LOGIN_URL", sim_base)
        .env("DEFENDER_GRAPH_URL", sim_base)
        .env("DEFENDER_TENANT_ID", &config.tenant_id)
        .env("DEFENDER_CLIENT_ID", &config.client_id)
        .env("DEFENDER_CLIENT_SECRET", &config.client_secret)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(value) = purge_delay {
        command.env("MIMALLOC_PURGE_DELAY", value);
    }
    command.spawn().expect("spawn serve")
}

/// The purge delay in the environment of process `pid`, once it listens on `port`.
async fn purge_delay_of(pid: u32, port: u16) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "nothing listened on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|var| std::str::from_utf8(var).ok())
        .find_map(|var| var.strip_prefix("MIMALLOC_PURGE_DELAY="))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_with_purge_delay_zero_unless_the_operator_set_one() {
    let sim = start_sim(sim_config()).await;
    for (given, expected) in [(None, "0"), (Some("250"), "250")] {
        let port = free_port();
        let mut child = spawn_serve(&sim.base_url(), port, given);
        // Same process: the re-execution keeps the pid the caller knows.
        let seen = purge_delay_of(child.id(), port).await;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.as_deref(), Some(expected), "given {given:?}");
    }
}
