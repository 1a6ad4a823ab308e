//! The per-caller limit defaults (`--caller-*` flags, `caller_*` TOML keys), used when a
//! callers file is configured (see `crate::auth::limits`).

use super::ConfigError;
use super::limits::in_range;
use crate::auth::CallerLimitSettings;

/// Resolves `[rate, concurrent, heavy rate, heavy concurrent]` (each already flag-or-file) over
/// the defaults, each within its range.
pub(super) fn resolve_limits(values: [Option<u64>; 4]) -> Result<CallerLimitSettings, ConfigError> {
    let d = CallerLimitSettings::default();
    let [rate, concurrent, heavy_rate, heavy_concurrent] = values;
    let get = |setting, value: Option<u64>, default: u32, max: u64| -> Result<u32, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => Ok(u32::try_from(in_range(setting, v, 1, max)?).unwrap_or(u32::MAX)),
        }
    };
    Ok(CallerLimitSettings {
        rate_per_minute: get(
            "DEFENDER_BRIDGE_CALLER_RATE_PER_MINUTE",
            rate,
            d.rate_per_minute,
            1_000_000,
        )?,
        max_concurrent: get(
            "DEFENDER_BRIDGE_CALLER_MAX_CONCURRENT",
            concurrent,
            d.max_concurrent,
            100_000,
        )?,
        heavy_rate_per_minute: get(
            "DEFENDER_BRIDGE_CALLER_HEAVY_RATE_PER_MINUTE",
            heavy_rate,
            d.heavy_rate_per_minute,
            1_000_000,
        )?,
        heavy_max_concurrent: get(
            "DEFENDER_BRIDGE_CALLER_HEAVY_MAX_CONCURRENT",
            heavy_concurrent,
            d.heavy_max_concurrent,
            100_000,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_values_and_ranges() {
        assert_eq!(
            resolve_limits([None; 4]).expect("defaults"),
            CallerLimitSettings::default()
        );
        let s = resolve_limits([Some(60), Some(4), Some(6), Some(1)]).expect("valid");
        assert_eq!((s.rate_per_minute, s.heavy_max_concurrent), (60, 1));
        assert!(resolve_limits([Some(0), None, None, None]).is_err());
    }
}
