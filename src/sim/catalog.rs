//! The fleet's shared catalogues: ~150 software products and ~300 vulnerabilities, each
//! vulnerability tied to one product. Machines refer to entries by index, which keeps a
//! 100,000-machine fleet small in memory.

use time::{Duration, OffsetDateTime, macros::datetime};

use super::rng::SplitMix64;

/// Which operating systems a product runs on; machines only get vulnerabilities of products
/// their platform can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformClass {
    /// Windows clients and servers.
    Windows,
    /// Linux.
    Linux,
    /// macOS.
    Mac,
    /// Cross-platform products.
    Any,
}

impl PlatformClass {
    /// Whether a product of class `self` can be installed on a machine of class `machine`.
    pub fn runs_on(self, machine: PlatformClass) -> bool {
        self == PlatformClass::Any || self == machine
    }
}

/// A software product (Defender's Software entity).
#[derive(Clone, Debug)]
pub struct SimSoftware {
    /// `<vendor>-_-<name>`, e.g. `microsoft-_-edge`.
    pub id: String,
    /// Product name, e.g. `edge`.
    pub name: String,
    /// Vendor, e.g. `microsoft`.
    pub vendor: String,
    /// Operating systems it runs on.
    pub platform: PlatformClass,
    /// The version installed across the fleet (used in machinesVulnerabilities rows).
    pub version: String,
    /// Number of catalogue vulnerabilities in this product.
    pub weaknesses: u32,
    /// Whether any of its vulnerabilities has a public exploit.
    pub public_exploit: bool,
    /// Machines with at least one of its vulnerabilities.
    pub exposed_machines: u32,
    /// Machines that have it installed.
    pub installed_machines: u32,
    /// Defender's impact score (synthetic).
    pub impact_score: f64,
    /// Whether a machine with it installed has an active alert (synthetic, fixed per product).
    pub active_alert: bool,
}

/// A vulnerability (Defender's Vulnerability entity).
#[derive(Clone, Debug)]
pub struct SimVulnerability {
    /// CVE id, e.g. `CVE-2021-34527`.
    pub id: String,
    /// Description text.
    pub description: String,
    /// `Low`, `Medium`, `High` or `Critical`.
    pub severity: &'static str,
    /// CVSS v3 base score.
    pub cvss_v3: f64,
    /// CVSS vector string.
    pub cvss_vector: &'static str,
    /// Publication date.
    pub published_on: OffsetDateTime,
    /// Last update.
    pub updated_on: OffsetDateTime,
    /// A public exploit exists.
    pub public_exploit: bool,
    /// The exploit is verified.
    pub exploit_verified: bool,
    /// The exploit is part of an exploit kit.
    pub exploit_in_kit: bool,
    /// Exploit types.
    pub exploit_types: Vec<&'static str>,
    /// Exploit URIs.
    pub exploit_uris: Vec<String>,
    /// Index of the affected product in the software catalogue.
    pub software: u16,
    /// KB that fixes it (Microsoft products), as Defender's `fixingKbId`.
    pub fixing_kb: Option<String>,
    /// Machines that have it.
    pub exposed_machines: u32,
}

/// Vulnerability severities from least to most severe.
pub const VULN_SEVERITIES: [&str; 4] = ["Low", "Medium", "High", "Critical"];

/// Rank of a vulnerability severity (Low = 0 … Critical = 3).
pub fn vuln_severity_rank(s: &str) -> usize {
    VULN_SEVERITIES.iter().position(|x| *x == s).unwrap_or(0)
}

use PlatformClass::{Any, Linux, Mac, Windows};

const REAL_SOFTWARE: &[(&str, &str, PlatformClass)] = &[
    ("microsoft", "windows_10", Windows),
    ("microsoft", "windows_11", Windows),
    ("microsoft", "windows_server_2019", Windows),
    ("microsoft", "windows_server_2022", Windows),
    ("microsoft", "edge", Windows),
    ("microsoft", "office", Windows),
    ("microsoft", "365_apps_for_enterprise", Windows),
    ("microsoft", "teams", Any),
    ("microsoft", "onedrive", Windows),
    ("microsoft", ".net_framework", Windows),
    ("microsoft", "visual_studio_code", Any),
    ("microsoft", "sql_server", Windows),
    ("microsoft", "powershell", Any),
    ("microsoft", "visual_c++_redistributable", Windows),
    ("microsoft", "remote_desktop_client", Windows),
    ("google", "chrome", Any),
    ("mozilla", "firefox", Any),
    ("mozilla", "thunderbird", Any),
    ("oracle", "jre", Any),
    ("oracle", "virtualbox", Any),
    ("python", "python", Any),
    ("nodejs", "node.js", Any),
    ("git-scm", "git", Any),
    ("openssl", "openssl", Any),
    ("zoom", "zoom", Any),
    ("slack", "slack", Any),
    ("igor_pavlov", "7-zip", Windows),
    ("notepad-plus-plus", "notepad++", Windows),
    ("videolan", "vlc_media_player", Any),
    ("simon_tatham", "putty", Windows),
    ("rarlab", "winrar", Windows),
    ("adobe", "acrobat_reader_dc", Windows),
    ("adobe", "acrobat_reader", Mac),
    ("citrix", "workspace", Windows),
    ("vmware", "tools", Windows),
    ("docker", "docker_desktop", Any),
    ("wireshark", "wireshark", Any),
    ("filezilla-project", "filezilla_client", Windows),
    ("keepass", "keepass", Windows),
    ("linux", "linux_kernel", Linux),
    ("openbsd", "openssh", Linux),
    ("sudo_project", "sudo", Linux),
    ("gnu", "bash", Linux),
    ("gnu", "glibc", Linux),
    ("haxx", "curl", Any),
    ("xmlsoft", "libxml2", Linux),
    ("f5", "nginx", Linux),
    ("apache", "http_server", Linux),
    ("apache", "log4j", Any),
    ("postgresql", "postgresql", Linux),
    ("oracle", "mysql", Linux),
    ("systemd_project", "systemd", Linux),
    ("polkit_project", "polkit", Linux),
    ("zlib", "zlib", Linux),
    ("canonical", "ubuntu_linux", Linux),
    ("redhat", "enterprise_linux", Linux),
    ("apple", "macos", Mac),
    ("apple", "safari", Mac),
    ("apple", "xcode", Mac),
    ("microsoft", "office_for_mac", Mac),
    ("homebrew", "homebrew", Mac),
    ("iterm2", "iterm2", Mac),
];

/// Products a machine of each platform always has (its OS and browser), by name.
pub(crate) fn base_software(platform: &str) -> &'static [&'static str] {
    match platform {
        "Windows10" => &[
            "microsoft-_-windows_10",
            "microsoft-_-edge",
            "microsoft-_-office",
        ],
        "Windows11" => &[
            "microsoft-_-windows_11",
            "microsoft-_-edge",
            "microsoft-_-teams",
        ],
        "WindowsServer2019" => &["microsoft-_-windows_server_2019", "microsoft-_-edge"],
        "WindowsServer2022" => &["microsoft-_-windows_server_2022", "microsoft-_-edge"],
        "Linux" => &[
            "linux-_-linux_kernel",
            "openbsd-_-openssh",
            "sudo_project-_-sudo",
        ],
        "macOS" => &["apple-_-macos", "apple-_-safari"],
        _ => &[],
    }
}

fn build_software(seed: u64) -> Vec<SimSoftware> {
    let mut rng = SplitMix64::new(seed, 10, 0);
    let mut out = Vec::with_capacity(150);
    let push = |out: &mut Vec<SimSoftware>,
                vendor: &str,
                name: &str,
                platform: PlatformClass,
                rng: &mut SplitMix64| {
        let version = if vendor == "microsoft" && name.starts_with("windows") {
            format!("10.0.{}.{}", rng.range(17763, 26100), rng.range(100, 5000))
        } else {
            format!("{}.{}.{}", rng.range(1, 120), rng.below(20), rng.below(400))
        };
        out.push(SimSoftware {
            id: format!("{vendor}-_-{name}"),
            name: name.to_string(),
            vendor: vendor.to_string(),
            platform,
            version,
            weaknesses: 0,
            public_exploit: false,
            exposed_machines: 0,
            installed_machines: 0,
            impact_score: 0.0,
            active_alert: rng.chance(20),
        });
    };
    for (vendor, name, platform) in REAL_SOFTWARE {
        push(&mut out, vendor, name, *platform, &mut rng);
    }
    let mut n = 1;
    while out.len() < 150 {
        let (vendor, name, platform) = match n % 3 {
            0 => ("contoso", format!("lob_app_{n:02}"), Windows),
            1 => ("fabrikam", format!("field_agent_{n:02}"), Any),
            _ => ("northwind", format!("inventory_service_{n:02}"), Linux),
        };
        push(&mut out, vendor, &name, platform, &mut rng);
        n += 1;
    }
    out
}

const EXPLOIT_TYPES: &[&str] = &[
    "Remote code execution",
    "Local privilege escalation",
    "Denial of service",
    "Security feature bypass",
    "Information disclosure",
    "Local",
];

const KINDS: &[&str] = &[
    "remote code execution",
    "elevation of privilege",
    "information disclosure",
    "denial of service",
    "security feature bypass",
    "spoofing",
];

fn vector_for(severity: &str) -> &'static str {
    match severity {
        "Critical" => "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C",
        "High" => "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C",
        "Medium" => "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N/E:U/RL:O/RC:C",
        _ => "CVSS:3.1/AV:L/AC:H/PR:L/UI:R/S:U/C:L/I:N/A:N/E:U/RL:O/RC:C",
    }
}

fn cvss_for(severity: &str, rng: &mut SplitMix64) -> f64 {
    let (lo, hi) = match severity {
        "Critical" => (90, 100),
        "High" => (70, 89),
        "Medium" => (40, 69),
        _ => (10, 39),
    };
    rng.range(lo, hi) as f64 / 10.0
}

/// Fixed catalogue entries that exercise the risk model's tie-breaks (docs/risk-model.md, rule 5):
/// (severity, cvss, public exploit, verified exploit, product name).
const TIE_BREAK_VULNS: [(&str, f64, bool, bool, &str); 4] = [
    ("Critical", 9.8, false, false, "microsoft-_-windows_10"),
    ("Critical", 9.1, true, true, "microsoft-_-edge"),
    ("High", 8.8, true, true, "microsoft-_-office"),
    ("High", 8.8, false, false, "microsoft-_-office"),
];

/// Catalogue index of the Critical 9.8 vulnerability (same severity as [`TIE_CVSS_LOSER`], higher CVSS).
pub const TIE_CVSS_WINNER: u16 = 0;
/// Catalogue index of the Critical 9.1 vulnerability with a verified exploit (loses on CVSS).
pub const TIE_CVSS_LOSER: u16 = 1;
/// Catalogue index of the High 8.8 vulnerability with a verified exploit.
pub const TIE_EXPLOIT_WINNER: u16 = 2;
/// Catalogue index of the High 8.8 vulnerability without an exploit.
pub const TIE_EXPLOIT_LOSER: u16 = 3;

fn build_vulnerabilities(seed: u64, software: &[SimSoftware]) -> Vec<SimVulnerability> {
    let mut rng = SplitMix64::new(seed, 11, 0);
    let by_class = |class: PlatformClass| -> Vec<u16> {
        (0..software.len() as u16)
            .filter(|i| software[*i as usize].platform == class)
            .collect()
    };
    let classes = [
        by_class(Windows),
        by_class(Linux),
        by_class(Mac),
        by_class(Any),
    ];
    let index_of = |id: &str| software.iter().position(|s| s.id == id).unwrap_or(0) as u16;
    let mut out = Vec::with_capacity(300);
    for i in 0..300u64 {
        let tie = TIE_BREAK_VULNS.get(i as usize);
        let (severity, sw) = if let Some((sev, _, _, _, product)) = tie {
            (*sev, index_of(product))
        } else if i < 4 + 16 {
            // Every (platform class, severity) pair gets at least one entry.
            let k = (i - 4) as usize;
            let pool = &classes[k / 4];
            let sw = rng.pick(pool).copied().unwrap_or(0);
            (VULN_SEVERITIES[k % 4], sw)
        } else {
            let sev = VULN_SEVERITIES[rng.weighted(&[15, 40, 35, 10])];
            (sev, rng.below(software.len() as u64) as u16)
        };
        let cvss = tie.map_or_else(|| cvss_for(severity, &mut rng), |t| t.1);
        let public = tie.map_or_else(
            || {
                rng.chance(match severity {
                    "Critical" => 60,
                    "High" => 35,
                    "Medium" => 15,
                    _ => 5,
                })
            },
            |t| t.2,
        );
        let verified = tie.map_or_else(|| public && rng.chance(50), |t| t.3);
        let in_kit = tie.is_none() && verified && rng.chance(30);
        let year = 2018 + rng.below(8) as i32;
        let published = datetime!(2018-01-01 0:00 UTC)
            + Duration::days(i64::from(year - 2018) * 365 + rng.below(360) as i64);
        let updated = published + Duration::days(rng.below(90) as i64);
        let id = format!("CVE-{year}-{}", 20000 + i * 7 + rng.below(7));
        let product = &software[sw as usize];
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        let description = format!(
            "A {kind} vulnerability exists in {} {} {}. An attacker who successfully exploited this \
             vulnerability could compromise the affected device. The update addresses the vulnerability.",
            product.vendor,
            product.name.replace('_', " "),
            product.version
        );
        let exploit_types = if public {
            let a = EXPLOIT_TYPES[rng.below(EXPLOIT_TYPES.len() as u64) as usize];
            vec![a]
        } else {
            Vec::new()
        };
        let exploit_uris = if public {
            vec![format!(
                "https://www.exploit-db.com/exploits/{}",
                40000 + i * 13
            )]
        } else {
            Vec::new()
        };
        let fixing_kb = (product.vendor == "microsoft").then(|| format!("{}", 5000000 + i * 31));
        out.push(SimVulnerability {
            id,
            description,
            severity,
            cvss_v3: cvss,
            cvss_vector: vector_for(severity),
            published_on: published,
            updated_on: updated,
            public_exploit: public,
            exploit_verified: verified,
            exploit_in_kit: in_kit,
            exploit_types,
            exploit_uris,
            software: sw,
            fixing_kb,
            exposed_machines: 0,
        });
    }
    out
}

/// Software and vulnerability catalogues plus per-platform selection pools.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub software: Vec<SimSoftware>,
    pub vulnerabilities: Vec<SimVulnerability>,
    /// `pools[platform class][severity rank]` = vulnerability indices usable on that platform.
    pools: [[Vec<u16>; 4]; 3],
}

impl Catalog {
    pub(crate) fn build(seed: u64) -> Self {
        let mut software = build_software(seed);
        let vulnerabilities = build_vulnerabilities(seed, &software);
        let mut pools: [[Vec<u16>; 4]; 3] = Default::default();
        for (ci, class) in [Windows, Linux, Mac].into_iter().enumerate() {
            for (i, v) in vulnerabilities.iter().enumerate() {
                // Tie-break entries are reserved for the machines that exercise them.
                if i < TIE_BREAK_VULNS.len() {
                    continue;
                }
                if software[v.software as usize].platform.runs_on(class) {
                    pools[ci][vuln_severity_rank(v.severity)].push(i as u16);
                }
            }
        }
        for v in &vulnerabilities {
            let s = &mut software[v.software as usize];
            s.weaknesses += 1;
            s.public_exploit |= v.public_exploit;
        }
        Self {
            software,
            vulnerabilities,
            pools,
        }
    }

    /// Vulnerabilities of one severity that a machine of `class` can have.
    pub(crate) fn pool(&self, class: PlatformClass, severity_rank: usize) -> &[u16] {
        let ci = match class {
            Windows | Any => 0,
            Linux => 1,
            Mac => 2,
        };
        &self.pools[ci][severity_rank.min(3)]
    }

    /// Catalogue index of a product id.
    pub(crate) fn software_index(&self, id: &str) -> Option<usize> {
        self.software
            .iter()
            .position(|s| s.id.eq_ignore_ascii_case(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_150_products_and_300_unique_cves() {
        let c = Catalog::build(1);
        assert_eq!(c.software.len(), 150);
        assert_eq!(c.vulnerabilities.len(), 300);
        let mut ids: Vec<&str> = c.vulnerabilities.iter().map(|v| v.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 300);
    }

    #[test]
    fn every_platform_has_every_severity_available() {
        let c = Catalog::build(7);
        for class in [Windows, Linux, Mac] {
            for rank in 0..4 {
                assert!(!c.pool(class, rank).is_empty(), "{class:?} {rank}");
            }
        }
    }

    #[test]
    fn cvss_matches_severity_bands() {
        let c = Catalog::build(2);
        for v in &c.vulnerabilities {
            let ok = match v.severity {
                "Critical" => v.cvss_v3 >= 9.0,
                "High" => (7.0..9.0).contains(&v.cvss_v3),
                "Medium" => (4.0..7.0).contains(&v.cvss_v3),
                _ => v.cvss_v3 < 4.0,
            };
            assert!(ok, "{} {} {}", v.id, v.severity, v.cvss_v3);
        }
    }

    #[test]
    fn tie_break_entries_tie_where_intended() {
        let c = Catalog::build(1);
        let v = |i: u16| &c.vulnerabilities[i as usize];
        assert_eq!(v(TIE_CVSS_WINNER).severity, v(TIE_CVSS_LOSER).severity);
        assert!(v(TIE_CVSS_WINNER).cvss_v3 > v(TIE_CVSS_LOSER).cvss_v3);
        assert_eq!(v(TIE_EXPLOIT_WINNER).cvss_v3, v(TIE_EXPLOIT_LOSER).cvss_v3);
        assert!(v(TIE_EXPLOIT_WINNER).exploit_verified && !v(TIE_EXPLOIT_LOSER).exploit_verified);
    }
}
