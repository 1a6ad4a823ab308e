//! The fleet table's settings (docs/fleet-table.md): whether a background task keeps every
//! machine's risk warm with bulk sweeps, how often it sweeps and polls for changes, and the share
//! of each Defender API's budget it may take.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Default time between two full sweeps.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Default time between two incremental refreshes (alerts updated since the last poll).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Default share of each API's budget the sweeps and refreshes may take.
pub const DEFAULT_BUDGET_SHARE: f64 = 0.5;

/// The `--fleet-*` flags (flattened into `serve`'s arguments).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FleetArgs {
    /// Keep a fleet-wide risk table warm with bulk sweeps and answer endpoint calls from it
    /// (default false; true in `demo`).
    #[arg(long, env = "DEFENDER_BRIDGE_FLEET_SYNC", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub fleet_sync: Option<bool>,
    /// Seconds between two full sweeps (default 900).
    #[arg(long, env = "DEFENDER_BRIDGE_FLEET_SYNC_INTERVAL", value_name = "SECS")]
    pub fleet_sync_interval: Option<u64>,
    /// Seconds between two incremental refreshes, which re-assess the machines whose alerts
    /// changed (default 60; 0 turns them off).
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_FLEET_REFRESH_INTERVAL",
        value_name = "SECS"
    )]
    pub fleet_refresh_interval: Option<u64>,
    /// Fraction of each Defender API's rate budget the sweeps and refreshes may use, in (0, 1]
    /// (default 0.5): the rest stays for cold misses, actions and hunting.
    #[arg(
        long,
        env = "DEFENDER_BRIDGE_FLEET_BUDGET_SHARE",
        value_name = "FRACTION"
    )]
    pub fleet_budget_share: Option<f64>,
}

/// The `[fleet]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileFleet {
    sync: Option<bool>,
    sync_interval_secs: Option<u64>,
    refresh_interval_secs: Option<u64>,
    budget_share: Option<f64>,
}

/// The fleet table's settings, resolved and range-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Keep the table (off by default).
    pub sync: bool,
    /// Time between two full sweeps.
    pub sweep_interval: Duration,
    /// Time between two incremental refreshes; `None`: off.
    pub refresh_interval: Option<Duration>,
    /// Share of each API's budget the background reads may use.
    pub budget_share: f64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            sync: false,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            refresh_interval: Some(DEFAULT_REFRESH_INTERVAL),
            budget_share: DEFAULT_BUDGET_SHARE,
        }
    }
}

/// Flags and environment over the file over the defaults.
pub(super) fn resolve(args: &FleetArgs, file: FileFleet) -> Result<FleetConfig, ConfigError> {
    let d = FleetConfig::default();
    let sweep_interval = match args.fleet_sync_interval.or(file.sync_interval_secs) {
        Some(secs) => Duration::from_secs(super::limits::in_range(
            "DEFENDER_BRIDGE_FLEET_SYNC_INTERVAL",
            secs,
            1,
            24 * 3600,
        )?),
        None => d.sweep_interval,
    };
    let refresh_interval = match args.fleet_refresh_interval.or(file.refresh_interval_secs) {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(super::limits::in_range(
            "DEFENDER_BRIDGE_FLEET_REFRESH_INTERVAL",
            secs,
            1,
            24 * 3600,
        )?)),
        None => d.refresh_interval,
    };
    let budget_share = args
        .fleet_budget_share
        .or(file.budget_share)
        .unwrap_or(d.budget_share);
    if !(budget_share > 0.0 && budget_share <= 1.0) {
        return Err(ConfigError::Invalid {
            setting: "DEFENDER_BRIDGE_FLEET_BUDGET_SHARE",
            message: format!("{budget_share} is not in (0, 1]"),
        });
    }
    Ok(FleetConfig {
        sync: args.fleet_sync.or(file.sync).unwrap_or(d.sync),
        sweep_interval,
        refresh_interval,
        budget_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_fifteen_minutes_and_half_the_budget() {
        let c = resolve(&FleetArgs::default(), FileFleet::default()).expect("valid");
        assert_eq!(c, FleetConfig::default());
        assert!(!c.sync);
        assert_eq!(c.sweep_interval, Duration::from_secs(900));
    }

    #[test]
    fn flags_win_over_the_file_and_bad_shares_are_refused() {
        let args = FleetArgs {
            fleet_sync: Some(true),
            fleet_sync_interval: Some(30),
            fleet_refresh_interval: Some(0),
            fleet_budget_share: None,
        };
        let file = FileFleet {
            sync: Some(false),
            sync_interval_secs: Some(60),
            refresh_interval_secs: Some(5),
            budget_share: Some(0.25),
        };
        let c = resolve(&args, file).expect("valid");
        assert!(c.sync);
        assert_eq!(c.sweep_interval, Duration::from_secs(30));
        assert_eq!(c.refresh_interval, None);
        assert_eq!(c.budget_share, 0.25);
        let bad = FleetArgs {
            fleet_budget_share: Some(1.5),
            ..FleetArgs::default()
        };
        assert!(resolve(&bad, FileFleet::default()).is_err());
        let zero = FleetArgs {
            fleet_sync_interval: Some(0),
            ..FleetArgs::default()
        };
        assert!(resolve(&zero, FileFleet::default()).is_err());
    }
}
