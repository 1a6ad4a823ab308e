//! The `defender-bridge` binary: parses the command line, sets up logging and calls into the
//! library. Subcommands: `serve`, `demo`, `sim`, `check`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use defender_bridge::check::{self, Capability};
use defender_bridge::config::{Config, LogFormat, ServeArgs};
use defender_bridge::defender::{CallOptions, DefenderClient};
use defender_bridge::{demo, server, sim, telemetry};

// The allocator: measured against glibc's in docs/memory.md (peak and settled RSS after
// large reads). `--no-default-features` builds with the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Microsoft Defender for Endpoint behind a typed, fast, safe gRPC API.
#[derive(Debug, Parser)]
#[command(name = "defender-bridge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC service against Microsoft Defender (or any API given by DEFENDER_API_URL).
    ///
    /// Settings come from defaults, then the TOML file of --config, then environment variables,
    /// then flags. The client secret is read from DEFENDER_CLIENT_SECRET (environment only) or
    /// DEFENDER_CLIENT_SECRET_FILE; it is never logged.
    Serve(ServeArgs),
    /// Run the service on a built-in Defender simulator: no Azure tenant or credentials needed.
    Demo(DemoArgs),
    /// Run the Defender simulator alone (token endpoint, Defender API, request log, faults).
    Sim(SimArgs),
    /// Test the credentials and the app's Defender permissions, and name what is missing.
    ///
    /// Takes the same settings as `serve` (flags, environment, --config). It gets a token from
    /// Entra ID with the configured credential (a refusal is explained by its AADSTS code), reads
    /// the application permissions granted to the app from the token's `roles` claim, says for
    /// each capability (machine-risk, vulnerabilities, alerts, isolate, scan, machine-actions,
    /// hunting, software) whether it will work and which permission it lacks, and makes one cheap
    /// probe call (GET /api/machines?$top=1, skipped with --no-probe). A newly added permission
    /// shows only after an administrator grants admin consent.
    ///
    /// Exit codes: 0 ready (token obtained, every required capability available, probe passed);
    /// 1 not ready (the report names each missing permission or the failure); 2 the
    /// configuration is unusable (missing or invalid setting, unknown --require name).
    Check(CheckArgs),
    /// Create an API key for the callers file (--callers).
    ///
    /// Prints the new random key once (hand it to the caller; it is not stored anywhere) and
    /// the `[[api_key]]` entry to paste into the callers file, which holds only the key's
    /// SHA-256. The server picks the entry up when the file changes (or on SIGHUP).
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// The key's name: the caller's identity is `key:NAME` (letters, digits, `.`, `_`, `-`).
    #[arg(long)]
    name: String,
    /// Comma-separated roles: reader, hunter, responder, admin.
    #[arg(long, value_delimiter = ',', required = true)]
    roles: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// gRPC listen address of the service.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Simulator listen address, loopback only (port 0 picks a free port): the simulator has no
    /// authentication.
    #[arg(long, default_value = "127.0.0.1:0")]
    sim_listen: SocketAddr,
    /// Number of simulated machines.
    #[arg(long, default_value_t = 1000)]
    machines: usize,
    /// Seed of the generated fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Log format: human or json.
    #[arg(long, default_value = "human")]
    log_format: LogFormat,
    /// Serve TLS with client certificates required (mTLS), from a throw-away CA, server and
    /// client certificates, API key and callers file written to a temporary folder; prints
    /// grpcurl commands that use them.
    #[arg(long)]
    tls: bool,
    /// Admin HTTP listener (/metrics, /healthz, /readyz): an address, or `off`. [default: a
    /// free loopback port, printed in the banner]
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    /// With --tls: write those files into DIR (created when missing; files of an earlier demo
    /// are replaced) instead of a temporary folder, so that scripts and tests can find them.
    /// The files are removed when the demo stops.
    #[arg(long, value_name = "DIR", requires = "tls")]
    tls_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Listen address of the simulator.
    #[arg(long, env = "DEFENDER_SIM_LISTEN", default_value = "127.0.0.1:9080")]
    listen: SocketAddr,
    /// Number of simulated machines (100,000 loads in seconds).
    #[arg(long, default_value_t = 1000)]
    machines: usize,
    /// Seed of the generated fleet: the same seed always gives the same fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Comma-separated application permissions put in the tokens' `roles` claim
    /// [default: all of them]. Use it to test missing permissions.
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<String>>,
    /// Do not enforce Defender's published rate limits (no 429s).
    #[arg(long)]
    no_rate_limits: bool,
    /// Do not emit @odata.nextLink: clients must page with $skip.
    #[arg(long)]
    no_next_links: bool,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Server-driven paging: answer at most N items per response (even when $top asks for
    /// more), with an @odata.nextLink to the rest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    server_page_size: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Comma-separated capabilities that must work: machine-risk, vulnerabilities, alerts,
    /// isolate, scan, machine-actions, hunting, software [default: all].
    #[arg(long, value_delimiter = ',')]
    require: Option<Vec<String>>,
    /// Skip the probe call (GET /api/machines?$top=1).
    #[arg(long)]
    no_probe: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Keygen(args) = &cli.command {
        return run_keygen(args);
    }
    defender_bridge::tls::install_crypto_provider();
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
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => run_serve(args.with_secret_from_env()).await,
            Command::Demo(args) => run_demo(args).await,
            Command::Sim(args) => run_sim(args).await,
            Command::Check(args) => run_check(args).await,
            Command::Keygen(args) => run_keygen(&args),
        }
    });
    // Log lines still waiting in the batched writer.
    telemetry::writer::flush();
    code
}

async fn run_serve(args: ServeArgs) -> ExitCode {
    let config = match Config::resolve(&args) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init_with(config.log_format, config.log_filter_file.as_deref())
    {
        Ok(t) => t,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if !config.enabled {
        tracing::warn!(
            "the Defender integration is disabled: every RPC answers INTEGRATION_DISABLED"
        );
    }
    let code = match server::serve(config, server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            telemetry::writer::flush();
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    };
    // The traces of the last calls are still queued: export them before exiting.
    telemetry.shutdown().await;
    code
}

fn run_keygen(args: &KeygenArgs) -> ExitCode {
    match defender_bridge::auth::api_key::keygen(&args.name, &args.roles) {
        Ok((key, entry)) => {
            // The key on stdout's first line (scriptable); the help text on stderr.
            println!("{key}");
            println!();
            print!("{entry}");
            eprintln!(
                "\nThe first line is the API key: give it to the caller, who sends it as \
                 `authorization: Bearer <key>`. It is shown only now. Paste the [[api_key]] \
                 entry into the callers file (it holds only the key's SHA-256)."
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

async fn run_demo(args: DemoArgs) -> ExitCode {
    let telemetry = telemetry::init(args.log_format);
    let options = demo::DemoOptions {
        listen: args.listen,
        sim_listen: args.sim_listen,
        machines: args.machines,
        seed: args.seed,
        tls: args.tls,
        admin_listen: args.admin_listen,
        tls_dir: args.tls_dir,
    };
    // Installed before anything starts, so an early SIGTERM still drains.
    let signal = server::shutdown_signal();
    let running = match demo::start(options).await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", running.banner());
    signal.await;
    running.shutdown().await;
    telemetry.shutdown().await;
    ExitCode::SUCCESS
}

async fn run_sim(args: SimArgs) -> ExitCode {
    // The simulator has no spans to export.
    let _logs_only = telemetry::init(LogFormat::Human);
    let mut config = sim::SimConfig {
        machines: args.machines,
        seed: args.seed,
        rate_limits: !args.no_rate_limits,
        next_links: !args.no_next_links,
        latency: std::time::Duration::from_millis(args.latency_ms),
        server_page_size: args
            .server_page_size
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        ..sim::SimConfig::default()
    };
    if let Some(roles) = args.roles {
        config.roles = roles
            .into_iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
    }
    let started = std::time::Instant::now();
    let handle = match sim::spawn(config.clone(), args.listen).await {
        Ok(h) => h,
        Err(err) => {
            eprintln!(
                "error: cannot start the simulator on {}: {err}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let signal = server::shutdown_signal();
    let base = handle.base_url();
    println!(
        "Defender simulator listening on {base} ({} machines, seed {}, ready in {} ms)",
        config.machines,
        config.seed,
        started.elapsed().as_millis()
    );
    println!("roles in issued tokens: {}", config.roles.join(","));
    println!("point the service at it with:");
    println!(
        "  export DEFENDER_API_URL={base} DEFENDER_LOGIN_URL={base} DEFENDER_GRAPH_URL={base}"
    );
    println!(
        "  export DEFENDER_TENANT_ID={} DEFENDER_CLIENT_ID={} DEFENDER_CLIENT_SECRET={}",
        config.tenant_id, config.client_id, config.client_secret
    );
    println!("request log: curl {base}/_sim/requests");
    tokio::select! {
        () = signal => {}
        () = handle.wait() => {}
    }
    handle.shutdown().await;
    ExitCode::SUCCESS
}

async fn run_check(args: CheckArgs) -> ExitCode {
    let serve = ServeArgs {
        enabled: Some(true),
        ..args.serve
    }
    .with_secret_from_env();
    let config = match Config::resolve(&serve) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let required: Vec<Capability> = match args.require {
        None => Capability::ALL.to_vec(),
        Some(names) => {
            let mut caps = Vec::new();
            for name in names {
                match Capability::parse(&name) {
                    Some(c) => caps.push(c),
                    None => {
                        eprintln!(
                            "error: unknown capability `{name}` in --require; use: {}",
                            Capability::ALL.map(Capability::name).join(", ")
                        );
                        return ExitCode::from(2);
                    }
                }
            }
            caps
        }
    };
    let Some(settings) = config.defender.clone() else {
        eprintln!("error: the Defender integration settings are missing");
        return ExitCode::from(2);
    };
    let client = match DefenderClient::new(settings) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let opts = CallOptions {
        deadline: Some(tokio::time::Instant::now() + std::time::Duration::from_secs(60)),
    };
    let report = check::run(
        &client,
        config.hunting_backend,
        &required,
        !args.no_probe,
        &opts,
    )
    .await;
    print!("{}", check::render(&report, config.hunting_backend));
    if report.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
