//! The binary as operators run it: `defender-bridge serve` in its own process, configured
//! through the environment, logging to a file, stopped with SIGTERM.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use defender_bridge::sim::{SimConfig, SimHandle};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub async fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listened on port {port}");
}

/// `serve` pointed at `sim`, on `port` (admin listener on `admin_port`), logs to `log`; `env`
/// adds or overrides variables (the client secret is not set: give one).
pub fn spawn_serve(
    sim: &SimHandle,
    config: &SimConfig,
    port: u16,
    admin_port: u16,
    log: &Path,
    env: &[(&str, String)],
) -> Child {
    let log_file = std::fs::File::create(log).expect("log file");
    let base = sim.base_url();
    let mut command = Command::new(env!("CARGO_BIN_EXE_defender-bridge"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEFENDER_BRIDGE_SHUTDOWN_GRACE_SECS", "2")
        .env("DEFENDER_BRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "DEFENDER_BRIDGE_ADMIN_LISTEN",
            format!("127.0.0.1:{admin_port}"),
        )
        .env("DEFENDER_API_URL", &base)
        .env("DEFENDER_LOGIN_URL", &base)
        .env("DEFENDER_GRAPH_URL", &base)
        .env("DEFENDER_TENANT_ID", &config.tenant_id)
        .env("DEFENDER_CLIENT_ID", &config.client_id);
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("spawn serve")
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// SIGTERM, then the exit code (the process is killed if it does not stop within 15 s).
pub fn terminate(child: &mut Child) -> i32 {
    signal(child, "TERM");
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

/// Kills the child when dropped (a failed assertion must not leave a server running).
pub struct Reaper(pub Option<Child>);

impl Reaper {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child")
    }

    /// SIGTERM and the exit code.
    pub async fn terminate(mut self) -> i32 {
        let mut child = self.0.take().expect("child");
        tokio::task::spawn_blocking(move || terminate(&mut child))
            .await
            .expect("join")
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The text of `GET http://127.0.0.1:{port}/metrics`.
pub async fn metrics_text(admin_port: u16) -> String {
    defender_bridge::tls::install_crypto_provider();
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .expect("admin listener answers")
        .text()
        .await
        .expect("body")
}

/// Every sample of an exposition: `name{labels}` -> value.
pub fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the series `name` with exactly these labels (`None` when absent).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    samples(text).into_iter().find_map(|(series, value)| {
        let inner = match series.strip_prefix(name)? {
            "" => "",
            rest => rest.strip_prefix('{')?.strip_suffix('}')?,
        };
        let mut have: Vec<String> = inner
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        have.sort();
        (have == wanted).then_some(value)
    })
}
