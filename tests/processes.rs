//! The binary as operators run it: `serve` logs never contain the client secret (even at trace
//! level, even when the token request fails), SIGTERM drains and exits 0, and `demo` serves the
//! API with zero configuration and prints grpcurl commands with a real machine id.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, sim_config, start_sim};
use defender_bridge::proto;
use defender_bridge::proto::risk_service_client::RiskServiceClient;
use defender_bridge::sim::SimConfig;

const SECRET: &str = "Zq8~unique-test-secret-value-7f3a";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listened on port {port}");
}

fn terminate(child: &mut Child) -> i32 {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_serve(sim_base: &str, config: &SimConfig, secret: &str, port: u16, json: bool) -> Child {
    Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .env("DEFENDER_BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DEFENDER_BRIDGE_LOG_FORMAT", if json { "json" } else { "human" })
        .env("DEFENDER_API_URL", sim_base)
        .env("DEFENDER_LOGIN_URL", sim_base)
        .env("DEFENDER_GRAPH_URL", sim_base)
        .env("DEFENDER_TENANT_ID", &config.tenant_id)
        .env("DEFENDER_CLIENT_ID", &config.client_id)
        .env("DEFENDER_CLIENT_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve")
}

fn output_of(mut child: Child) -> String {
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_secret_appears_in_no_log_line_and_sigterm_drains() {
    for (json, good) in [(false, true), (true, true), (false, false)] {
        let config = SimConfig {
            client_secret: SECRET.into(),
            ..sim_config()
        };
        let sim = start_sim(config.clone()).await;
        let port = free_port();
        let used_secret = if good { SECRET.to_string() } else { format!("{SECRET}-wrong") };
        let mut child = spawn_serve(&sim.base_url(), &config, &used_secret, port, json);
        wait_until_listening(port).await;
        let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
        let resp = RiskServiceClient::new(channel)
            .check_connection(proto::CheckConnectionRequest::default())
            .await
            .expect("rpc")
            .into_inner();
        assert_eq!(resp.token.expect("token").ok, good);
        let code = terminate(&mut child);
        let logs = output_of(child);
        assert_eq!(code, 0, "graceful exit after SIGTERM; logs:\n{logs}");
        assert!(logs.contains("SIGTERM"), "shutdown is logged:\n{logs}");
        assert!(logs.lines().count() > 3, "trace logging produced output:\n{logs}");
        assert!(!logs.contains(SECRET), "the secret leaked into the logs:\n{logs}");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_with_zero_configuration_and_prints_grpcurl_commands() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_defender-bridge"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--machines", "300"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.contains("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines.join("\n")
    })
    .await
    .expect("banner");
    assert!(banner.contains(&format!("grpcurl -plaintext 127.0.0.1:{port} list")), "{banner}");
    let id_line = banner
        .lines()
        .find(|l| l.contains("GetEndpointRisk"))
        .expect("a GetEndpointRisk example");
    let id: String = id_line
        .split("\"machine_id\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("machine id in the example")
        .to_string();
    assert_eq!(id.len(), 40);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let channel = connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    let resp = RiskServiceClient::new(channel)
        .check_connection(proto::CheckConnectionRequest::default())
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.ready, "the demo's simulator grants every permission");
    assert_eq!(terminate(&mut child), 0);
}
