//! The connection check ("Test Connection"): gets a token, reads the application
//! permissions granted from its `roles` claim, says for each capability whether it will work and
//! which permission is missing, and makes one cheap probe call. Shared by the `CheckConnection`
//! RPC and the `defender-bridge check` command, so both always agree.

use std::time::{Duration, SystemTime};

use crate::config::HuntingBackend;
use crate::defender::{CallOptions, DefenderClient, DefenderError, ODataQuery, TokenScope};
use crate::error::aadsts_fix;

/// The reminder shown after every permission change: a new permission is not in the token
/// until an administrator grants consent.
pub const ADMIN_CONSENT_REMINDER: &str = "Every time a permission is added, open the app's API permissions page in the Azure portal \
and have a Global Administrator grant admin consent for the organization; until then the permission is not in the token.";

/// What the service can do for a caller, each needing one of a set of application permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Endpoint risk: machine look-up (the base of every risk answer).
    MachineRisk,
    /// Vulnerabilities in risk answers and `ListVulnerabilities`.
    Vulnerabilities,
    /// Alerts in risk answers and `ListAlerts`.
    Alerts,
    /// Isolate and release machines.
    Isolate,
    /// Run antivirus scans.
    Scan,
    /// Track machine actions (get, list, watch).
    MachineActions,
    /// Advanced hunting (permission depends on the configured backend).
    Hunting,
    /// Software and devices by software.
    Software,
}

impl Capability {
    /// Every capability, in display order.
    pub const ALL: [Capability; 8] = [
        Capability::MachineRisk,
        Capability::Vulnerabilities,
        Capability::Alerts,
        Capability::Isolate,
        Capability::Scan,
        Capability::MachineActions,
        Capability::Hunting,
        Capability::Software,
    ];

    /// The kebab-case name used on the command line (`--require`).
    pub fn name(self) -> &'static str {
        match self {
            Self::MachineRisk => "machine-risk",
            Self::Vulnerabilities => "vulnerabilities",
            Self::Alerts => "alerts",
            Self::Isolate => "isolate",
            Self::Scan => "scan",
            Self::MachineActions => "machine-actions",
            Self::Hunting => "hunting",
            Self::Software => "software",
        }
    }

    /// Parses a `name()`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name.trim())
    }

    /// What it covers, in plain words.
    pub fn description(self) -> &'static str {
        match self {
            Self::MachineRisk => "read machines: endpoint risk, GetMachine, ListMachines",
            Self::Vulnerabilities => "vulnerabilities in endpoint risk and ListVulnerabilities",
            Self::Alerts => "alerts in endpoint risk and ListAlerts",
            Self::Isolate => "IsolateMachine and ReleaseMachine",
            Self::Scan => "RunAntivirusScan",
            Self::MachineActions => "GetMachineAction, ListMachineActions, WatchMachineAction",
            Self::Hunting => "RunHuntingQuery",
            Self::Software => "GetSoftware and ListSoftwareMachines",
        }
    }

    /// Application permissions any one of which enables the capability.
    pub fn permissions(self, backend: HuntingBackend) -> &'static [&'static str] {
        match self {
            Self::MachineRisk | Self::MachineActions => {
                &["Machine.Read.All", "Machine.ReadWrite.All"]
            }
            Self::Vulnerabilities => &["Vulnerability.Read.All"],
            Self::Alerts => &["Alert.Read.All", "Alert.ReadWrite.All"],
            Self::Isolate => &["Machine.Isolate"],
            Self::Scan => &["Machine.Scan"],
            Self::Hunting => match backend {
                HuntingBackend::Graph => &["ThreatHunting.Read.All"],
                HuntingBackend::Defender => &["AdvancedQuery.Read.All"],
            },
            Self::Software => &["Software.Read.All"],
        }
    }
}

/// The token part of the report.
#[derive(Debug, Clone, Default)]
pub struct TokenReport {
    /// Whether a Defender token was obtained.
    pub ok: bool,
    /// Entra's error, when not.
    pub error: Option<String>,
    /// The AADSTS code, when Entra gave one.
    pub aadsts_code: Option<String>,
    /// What to do about the error.
    pub fix: Option<String>,
    /// When the token expires.
    pub expires_at: Option<SystemTime>,
    /// The app id in the token.
    pub app_id: Option<String>,
    /// The tenant id in the token.
    pub tenant_id: Option<String>,
    /// The token audience.
    pub audience: Option<String>,
}

/// One capability's verdict.
#[derive(Debug, Clone)]
pub struct CapabilityReport {
    /// The capability.
    pub capability: Capability,
    /// Whether the granted permissions enable it.
    pub available: bool,
    /// Whether the operator requires it.
    pub required: bool,
    /// Permissions any one of which enables it.
    pub required_permissions: Vec<String>,
    /// The permissions to add when it is unavailable (all alternatives listed).
    pub missing_permissions: Vec<String>,
    /// Extra explanation (e.g. why the Graph token could not be read).
    pub note: Option<String>,
}

/// The probe call's result.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    /// Whether a probe was made.
    pub attempted: bool,
    /// Whether it succeeded.
    pub ok: bool,
    /// The call made.
    pub call: String,
    /// HTTP status seen (0 when no response).
    pub http_status: u16,
    /// How long it took.
    pub latency: Duration,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// The whole "Test Connection" report.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    /// Token result.
    pub token: TokenReport,
    /// Application permissions granted (the Defender token's `roles` claim).
    pub granted_permissions: Vec<String>,
    /// One verdict per capability.
    pub capabilities: Vec<CapabilityReport>,
    /// The probe call.
    pub probe: ProbeReport,
    /// Token works, every required capability is available and the probe (if made) passed.
    pub ready: bool,
}

/// What the service itself cannot work without: reading machines. Everything else degrades
/// (risk without vulnerabilities, no actions, ...) and is reported, not required.
pub const SERVICE_REQUIRED: &[Capability] = &[Capability::MachineRisk];

/// Runs the check. `required` lists the capabilities that must work for `ready`.
pub async fn run(
    client: &DefenderClient,
    backend: HuntingBackend,
    required: &[Capability],
    probe: bool,
    opts: &CallOptions,
) -> ConnectionReport {
    let mut token = TokenReport::default();
    let granted = match client.token_info(TokenScope::Defender, opts).await {
        Ok(info) => {
            token.ok = true;
            token.expires_at = Some(info.expires_at);
            token.app_id = info.app_id;
            token.tenant_id = info.tenant_id;
            token.audience = info.audience;
            info.roles
        }
        Err(err) => {
            if let DefenderError::Authentication { aadsts_code, .. } = &err {
                token.aadsts_code = aadsts_code.clone();
                token.fix = Some(aadsts_fix(aadsts_code.as_deref()).to_string());
            } else {
                token.fix = Some("check DEFENDER_LOGIN_URL / DEFENDER_CLOUD and network access to the login host".into());
            }
            token.error = Some(err.to_string());
            Vec::new()
        }
    };

    // With the Graph backend, hunting permissions live in a separate Graph token.
    let graph_roles = if token.ok && backend == HuntingBackend::Graph {
        Some(
            client
                .token_info(TokenScope::Graph, opts)
                .await
                .map(|i| i.roles),
        )
    } else {
        None
    };

    let mut capabilities = Vec::new();
    for capability in Capability::ALL {
        let perms = capability.permissions(backend);
        let (roles, note): (&[String], Option<String>) = match (&graph_roles, capability) {
            (Some(Ok(roles)), Capability::Hunting) => (roles.as_slice(), None),
            (Some(Err(err)), Capability::Hunting) => (
                &[],
                Some(format!("could not get a Microsoft Graph token: {err}")),
            ),
            _ => (granted.as_slice(), None),
        };
        let available = token.ok && perms.iter().any(|p| roles.iter().any(|r| r == p));
        capabilities.push(CapabilityReport {
            capability,
            available,
            required: required.contains(&capability),
            required_permissions: perms.iter().map(|p| (*p).to_string()).collect(),
            // The first alternative is the least privileged one: that is what to grant.
            missing_permissions: if available {
                Vec::new()
            } else {
                perms.iter().take(1).map(|p| (*p).to_string()).collect()
            },
            note,
        });
    }

    let mut probe_report = ProbeReport {
        call: "GET /api/machines?$top=1".into(),
        ..ProbeReport::default()
    };
    let machine_ok = capabilities
        .iter()
        .any(|c| c.capability == Capability::MachineRisk && c.available);
    if probe && token.ok && machine_ok {
        probe_report.attempted = true;
        let started = tokio::time::Instant::now();
        let query = ODataQuery {
            top: Some(1),
            ..ODataQuery::default()
        };
        match client.list_machines(&query, opts).await {
            Ok(_) => {
                probe_report.ok = true;
                probe_report.http_status = 200;
            }
            // Defender answers 404 when the tenant has no recent machines: the call worked.
            Err(DefenderError::NotFound { .. }) => {
                probe_report.ok = true;
                probe_report.http_status = 404;
            }
            Err(err) => {
                probe_report.http_status = status_of(&err);
                probe_report.error = Some(err.to_string());
            }
        }
        probe_report.latency = started.elapsed();
    }

    let ready = token.ok
        && capabilities.iter().all(|c| c.available || !c.required)
        && (!probe_report.attempted || probe_report.ok);
    ConnectionReport {
        token,
        granted_permissions: granted,
        capabilities,
        probe: probe_report,
        ready,
    }
}

/// The permission to add for each unavailable required capability (the first alternative, which
/// is the least privileged one), without repeats.
pub fn missing_permissions(report: &ConnectionReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in report
        .capabilities
        .iter()
        .filter(|c| c.required && !c.available)
    {
        if let Some(p) = c.missing_permissions.first() {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
    }
    out
}

fn status_of(err: &DefenderError) -> u16 {
    match err {
        DefenderError::Authentication { status, .. } | DefenderError::Upstream { status, .. } => {
            *status
        }
        DefenderError::MissingPermission { .. } | DefenderError::Forbidden { .. } => 403,
        DefenderError::Unauthorized { .. } => 401,
        DefenderError::NotFound { .. } => 404,
        DefenderError::ActiveRequestAlreadyExists { .. } | DefenderError::BadRequest { .. } => 400,
        DefenderError::Throttled { .. } => 429,
        _ => 0,
    }
}

/// Renders the report as the readable table the `check` command prints.
pub fn render(report: &ConnectionReport, backend: HuntingBackend) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let t = &report.token;
    if t.ok {
        let _ = writeln!(
            out,
            "Token:        OK (app {}, tenant {}, audience {})",
            t.app_id.as_deref().unwrap_or("?"),
            t.tenant_id.as_deref().unwrap_or("?"),
            t.audience.as_deref().unwrap_or("?")
        );
    } else {
        let _ = writeln!(
            out,
            "Token:        FAILED{}",
            t.aadsts_code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
        if let Some(e) = &t.error {
            let _ = writeln!(out, "  error:      {e}");
        }
        if let Some(f) = &t.fix {
            let _ = writeln!(out, "  fix:        {f}");
        }
    }
    let _ = writeln!(
        out,
        "Granted:      {}",
        if report.granted_permissions.is_empty() {
            "(none)".to_string()
        } else {
            report.granted_permissions.join(", ")
        }
    );
    let _ = writeln!(out, "Hunting via:  {backend}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<17} {:<9} {:<9} PERMISSION (any of)",
        "CAPABILITY", "STATUS", "REQUIRED"
    );
    for c in &report.capabilities {
        let status = if c.available { "ok" } else { "MISSING" };
        let _ = writeln!(
            out,
            "{:<17} {:<9} {:<9} {}",
            c.capability.name(),
            status,
            if c.required { "yes" } else { "no" },
            c.required_permissions.join(" | ")
        );
        if let Some(note) = &c.note {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    let _ = writeln!(out);
    let p = &report.probe;
    if p.attempted {
        let _ = writeln!(
            out,
            "Probe:        {} -> {} ({} ms){}",
            p.call,
            if p.ok { "OK" } else { "FAILED" },
            p.latency.as_millis(),
            p.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    } else {
        let _ = writeln!(
            out,
            "Probe:        not run (needs a token and Machine.Read.All)"
        );
    }
    let missing = missing_permissions(report);
    if !missing.is_empty() {
        let _ = writeln!(out, "Missing:      {}", missing.join(", "));
    }
    let _ = writeln!(
        out,
        "Result:       {}",
        if report.ready { "READY" } else { "NOT READY" }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Reminder: {ADMIN_CONSENT_REMINDER}");
    out
}
