//! Generation of one machine from (seed, index): platform, names, addresses, seen times,
//! risk and exposure, and the vulnerabilities, software and alert counts that follow from them.
//! A few fixed positions get hand-picked values so tests can rely on them (see `fleet`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use time::{Duration, OffsetDateTime};

use super::catalog::{
    Catalog, PlatformClass, TIE_CVSS_LOSER, TIE_CVSS_WINNER, TIE_EXPLOIT_LOSER, TIE_EXPLOIT_WINNER,
};
use super::fleet::{
    AMBIGUOUS_NAME_INDEX, CLEAN_INDEX, EXPOSURE_LEVELS, RISK_SCORES, SAMPLE_INDEX, SHARED_IP_INDEX,
    SHARED_IP_PARTNER, SimIpAddress, SimMachine, TIE_ALERT_INDEX, TIE_CVSS_INDEX,
    TIE_EXPLOIT_INDEX, platform_class,
};
use super::rng::{self, SplitMix64};

pub(crate) const PLATFORMS: [&str; 6] = [
    "Windows10",
    "Windows11",
    "WindowsServer2019",
    "WindowsServer2022",
    "Linux",
    "macOS",
];
const HEALTH: [&str; 6] = [
    "Active",
    "Inactive",
    "ImpairedCommunication",
    "NoSensorData",
    "NoSensorDataImpairedCommunication",
    "Unknown",
];
const GROUPS: [(u32, &str); 5] = [
    (140, "Workstations"),
    (141, "Servers"),
    (142, "Linux Fleet"),
    (143, "Executives"),
    (144, "Lab"),
];
const TAGS: [&str; 6] = ["VIP", "PCI", "Finance", "Kiosk", "Lab", "Prod"];

fn domain_of(name: &str) -> &str {
    name.split_once('.').map_or("", |(_, d)| d)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn pick_vulns(
    rng: &mut SplitMix64,
    catalog: &Catalog,
    class: PlatformClass,
    max_rank: usize,
    n: u64,
    out: &mut Vec<u16>,
) {
    for _ in 0..n {
        let rank = rng.below(max_rank as u64 + 1) as usize;
        if let Some(v) = rng.pick(catalog.pool(class, rank)) {
            out.push(*v);
        }
    }
}

#[allow(clippy::too_many_lines)]
pub(crate) fn generate_machine(
    seed: u64,
    anchor: OffsetDateTime,
    i: usize,
    catalog: &Catalog,
    runnable: &[Vec<u16>],
    base: &[Vec<u16>],
    earlier: &[SimMachine],
) -> SimMachine {
    let mut rng = SplitMix64::new(seed, 1, i as u64);
    let mut platform_ix = rng.weighted(&[35, 30, 10, 10, 10, 5]);
    let mut health = HEALTH[rng.weighted(&[80, 10, 4, 3, 2, 1])];
    // Risk: None, Informational, Low, Medium, High, null (index 5).
    let mut risk_ix = rng.weighted(&[35, 10, 20, 17, 15, 3]);
    // Exposure: None, Low, Medium, High, null (index 4).
    let mut exposure_ix = rng.weighted(&[15, 35, 30, 17, 3]);
    match i {
        SAMPLE_INDEX => (platform_ix, health, risk_ix, exposure_ix) = (1, "Active", 4, 3),
        TIE_CVSS_INDEX => (platform_ix, health, risk_ix, exposure_ix) = (0, "Active", 3, 3),
        TIE_EXPLOIT_INDEX => (platform_ix, health, risk_ix, exposure_ix) = (0, "Active", 2, 2),
        TIE_ALERT_INDEX => (platform_ix, health, risk_ix, exposure_ix) = (1, "Active", 4, 1),
        CLEAN_INDEX => (platform_ix, health, risk_ix, exposure_ix) = (1, "Active", 0, 0),
        SHARED_IP_PARTNER => health = "Inactive",
        SHARED_IP_INDEX => health = "Active",
        _ => {}
    }
    let os_platform = PLATFORMS[platform_ix];
    let class = platform_class(os_platform);
    let risk_score = RISK_SCORES.get(risk_ix).copied();
    let exposure_level = EXPOSURE_LEVELS.get(exposure_ix).copied();

    let (prefix, domain) = match os_platform {
        "Windows10" | "Windows11" => (
            "ws",
            if rng.chance(60) {
                "contoso.local"
            } else {
                "corp.contoso.com"
            },
        ),
        "WindowsServer2019" | "WindowsServer2022" => ("srv", "corp.contoso.com"),
        "Linux" => ("lnx", "lab.contoso.com"),
        _ => ("mac", if rng.chance(70) { "contoso.local" } else { "" }),
    };
    let mut computer_dns_name = if domain.is_empty() {
        format!("{prefix}-{i:05}")
    } else {
        format!("{prefix}-{i:05}.{domain}")
    };
    if i > 0 && (i == AMBIGUOUS_NAME_INDEX || i % 97 == AMBIGUOUS_NAME_INDEX) {
        // Same first label as the previous machine, in another domain.
        let prev = &earlier[i - 1].computer_dns_name;
        let label = prev.split('.').next().unwrap_or(prev);
        let other = if domain_of(prev) == "contoso.local" {
            "corp.contoso.com"
        } else {
            "contoso.local"
        };
        computer_dns_name = format!("{label}.{other}");
    }

    // Seen times: active machines reported in the last hours, others days ago (< 30 days).
    let last_offset = if health == "Active" {
        rng.range(60, 6 * 3600)
    } else {
        rng.range(7 * 86400, 28 * 86400)
    };
    let sub_ns = rng.below(10_000_000) as i64 * 100;
    let mut last_seen =
        anchor - Duration::seconds(last_offset as i64) + Duration::nanoseconds(sub_ns);
    let mut first_seen = last_seen - Duration::seconds(rng.range(86400, 300 * 86400) as i64);

    let g = (i / 250) as u32;
    let mut last_ip = v4(
        10,
        ((g >> 8) & 255) as u8,
        (g & 255) as u8,
        (i % 250 + 2) as u8,
    );
    if i > 0 && (i == SHARED_IP_INDEX || i % 101 == SHARED_IP_INDEX) {
        // Shares the previous machine's IP; seen at a different time.
        if let Ok(prev) = earlier[i - 1].last_ip_address.parse::<IpAddr>() {
            last_ip = prev;
        }
        if i == SHARED_IP_INDEX {
            last_seen = anchor - Duration::minutes(30);
            first_seen = anchor - Duration::days(60);
        }
    }
    if i == SHARED_IP_PARTNER {
        last_seen = anchor - Duration::days(2);
        first_seen = anchor - Duration::days(60);
    }
    let mac = rng.next_u64() & 0x00ff_ffff_ffff & !0x0100_0000_0000;
    let mut ip_addresses = vec![
        SimIpAddress {
            ip_address: last_ip,
            mac_address: mac,
        },
        SimIpAddress {
            ip_address: IpAddr::V6(Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                rng.below(0x10000) as u16,
                rng.below(0x10000) as u16,
                rng.below(0x10000) as u16,
                rng.below(0x10000) as u16,
            )),
            mac_address: mac,
        },
    ];
    if rng.chance(30) {
        ip_addresses.push(SimIpAddress {
            ip_address: v4(
                172,
                16 + ((i >> 16) & 15) as u8,
                ((i >> 8) & 255) as u8,
                (i & 255) as u8,
            ),
            mac_address: (mac + 1) & 0x00ff_ffff_ffff,
        });
    }

    let (version, os_build, agent_version) = match os_platform {
        "Windows10" => ("22H2", Some(19045), "10.8760.19045.4355"),
        "Windows11" => (
            if rng.chance(50) { "23H2" } else { "24H2" },
            Some(22631),
            "10.8760.22631.3527",
        ),
        "WindowsServer2019" => ("1809", Some(17763), "10.8760.17763.5696"),
        "WindowsServer2022" => ("21H2", Some(20348), "10.8760.20348.2402"),
        "Linux" => ("22.04", None, "101.24032.0007"),
        _ => ("14.5", None, "101.24042.0002"),
    };
    let group = if rng.chance(20) {
        None
    } else {
        rng.pick(&GROUPS).copied()
    };
    let device_value = ["Normal", "High", "Low"][rng.weighted(&[85, 10, 5])];
    let aad_device_id = matches!(os_platform, "Windows10" | "Windows11").then(|| rng.guid());
    let mut machine_tags = Vec::new();
    for _ in 0..rng.below(3) {
        if let Some(t) = rng.pick(&TAGS) {
            if !machine_tags.contains(t) {
                machine_tags.push(*t);
            }
        }
    }

    // Vulnerabilities follow exposure: None → none; higher exposure → more and more severe.
    let mut vulns: Vec<u16> = Vec::new();
    match i {
        TIE_CVSS_INDEX => {
            vulns.extend([TIE_CVSS_WINNER, TIE_CVSS_LOSER]);
            pick_vulns(&mut rng, catalog, class, 2, 3, &mut vulns);
        }
        TIE_EXPLOIT_INDEX => {
            vulns.extend([TIE_EXPLOIT_LOSER, TIE_EXPLOIT_WINNER]);
            pick_vulns(&mut rng, catalog, class, 1, 3, &mut vulns);
        }
        _ => match exposure_ix {
            1 => {
                let n = rng.range(1, 4);
                pick_vulns(&mut rng, catalog, class, 1, n, &mut vulns);
            }
            2 => {
                if let Some(v) = rng.pick(catalog.pool(class, 2)) {
                    vulns.push(*v);
                }
                let n = rng.range(1, 6);
                pick_vulns(&mut rng, catalog, class, 2, n, &mut vulns);
            }
            3 => {
                if let Some(v) = rng.pick(catalog.pool(class, 3)) {
                    vulns.push(*v);
                }
                let n = rng.range(2, 12);
                pick_vulns(&mut rng, catalog, class, 3, n, &mut vulns);
            }
            4 => {
                let n = rng.below(3);
                pick_vulns(&mut rng, catalog, class, 1, n, &mut vulns);
            }
            _ => {}
        },
    }
    vulns.sort_unstable();
    vulns.dedup();

    let class_ix = match class {
        PlatformClass::Linux => 1,
        PlatformClass::Mac => 2,
        _ => 0,
    };
    let mut software: Vec<u16> = base[platform_ix].clone();
    for _ in 0..rng.range(1, 5) {
        if let Some(s) = rng.pick(&runnable[class_ix]) {
            software.push(*s);
        }
    }
    software.extend(
        vulns
            .iter()
            .map(|v| catalog.vulnerabilities[*v as usize].software),
    );
    software.sort_unstable();
    software.dedup();

    // Alerts follow risk: None/null → none; otherwise active alerts up to that severity.
    let (active_alerts, alert_count) = match (i, risk_ix) {
        (TIE_ALERT_INDEX, _) => (2, 2),
        (_, 1..=4) => {
            let active = rng.range(1, 3) as u8;
            (active, active + rng.below(3) as u8)
        }
        _ => (0, 0),
    };

    SimMachine {
        index: i as u32,
        id: rng::machine_id(seed, i as u64),
        computer_dns_name,
        first_seen,
        last_seen,
        os_platform,
        version,
        os_build,
        agent_version,
        last_ip_address: last_ip.to_string(),
        last_external_ip_address: format!("203.0.113.{}", i % 254 + 1),
        ip_addresses,
        health_status: health,
        rbac_group_id: group.map_or(0, |g| g.0),
        rbac_group_name: group.map(|g| g.1),
        risk_score,
        exposure_level,
        device_value,
        aad_device_id,
        machine_tags,
        vulnerabilities: vulns.into_boxed_slice(),
        software: software.into_boxed_slice(),
        alert_count,
        active_alerts,
    }
}
