//! Microsoft clouds: which hosts and token scopes a tenant in each cloud uses.
//!
//! Host names follow Microsoft's documentation of its US government clouds.
//! The gov-cloud Defender token scope is not documented by Microsoft; see [`Cloud::defender_scope`].

use std::fmt;
use std::str::FromStr;

use url::Url;

/// The Microsoft cloud a tenant lives in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Worldwide commercial cloud.
    #[default]
    Commercial,
    /// US Government Community Cloud (Defender API on `.us`, Entra and Graph on commercial).
    Gcc,
    /// US Government GCC High.
    GccHigh,
    /// US Department of Defense.
    Dod,
}

/// Parses a cloud's host constant; the constants below are valid URLs.
fn fixed(url: &'static str) -> Url {
    Url::parse(url).expect("cloud host constants are valid URLs")
}

impl Cloud {
    /// Every cloud, for iteration in tests and help texts.
    pub const ALL: [Cloud; 4] = [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod];

    /// The config name: `commercial`, `gcc`, `gcc-high`, `dod`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
        }
    }

    /// Entra ID (token) host.
    pub fn login_url(&self) -> Url {
        match self {
            Cloud::Commercial | Cloud::Gcc => fixed("https://login.microsoftonline.com"),
            Cloud::GccHigh | Cloud::Dod => fixed("https://login.microsoftonline.us"),
        }
    }

    /// Defender for Endpoint API host (requests go to `{api}/api/...`).
    pub fn api_url(&self) -> Url {
        match self {
            Cloud::Commercial => fixed("https://api.securitycenter.microsoft.com"),
            Cloud::Gcc => fixed("https://api-gcc.securitycenter.microsoft.us"),
            Cloud::GccHigh | Cloud::Dod => fixed("https://api-gov.securitycenter.microsoft.us"),
        }
    }

    /// Defender portal host, for deep links.
    pub fn portal_url(&self) -> Url {
        match self {
            Cloud::Commercial | Cloud::Gcc => fixed("https://security.microsoft.com"),
            Cloud::GccHigh => fixed("https://security.microsoft.us"),
            Cloud::Dod => fixed("https://security.apps.mil"),
        }
    }

    /// Microsoft Graph host (GCC uses commercial Graph).
    pub fn graph_url(&self) -> Url {
        match self {
            Cloud::Commercial | Cloud::Gcc => fixed("https://graph.microsoft.com"),
            Cloud::GccHigh => fixed("https://graph.microsoft.us"),
            Cloud::Dod => fixed("https://dod-graph.microsoft.us"),
        }
    }

    /// Token scope for the Defender for Endpoint API (the WindowsDefenderATP resource).
    ///
    /// Commercial and GCC use `https://api.securitycenter.microsoft.com/.default` (Microsoft's
    /// app-only doc; regional hosts accept it). For GCC High and DoD Microsoft documents no
    /// scope; integrations use the API host as the audience, so we request
    /// `https://api-gov.securitycenter.microsoft.us/.default`. UNCERTAIN: verify on a gov tenant.
    pub fn defender_scope(&self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://api.securitycenter.microsoft.com/.default",
            Cloud::GccHigh | Cloud::Dod => "https://api-gov.securitycenter.microsoft.us/.default",
        }
    }

    /// Token scope for Microsoft Graph (`{graph host}/.default`).
    pub fn graph_scope(&self) -> &'static str {
        match self {
            Cloud::Commercial | Cloud::Gcc => "https://graph.microsoft.com/.default",
            Cloud::GccHigh => "https://graph.microsoft.us/.default",
            Cloud::Dod => "https://dod-graph.microsoft.us/.default",
        }
    }

    /// DNS suffixes of this cloud's Defender API hosts (global, regional and legacy). A paging
    /// link on one of these (over https) may receive the bearer token. GCC's API lives on `.us`,
    /// so GCC shares the gov suffixes.
    pub fn defender_api_domains(&self) -> &'static [&'static str] {
        match self {
            Cloud::Commercial => &[
                "securitycenter.microsoft.com",
                "security.microsoft.com",
                "securitycenter.windows.com",
            ],
            Cloud::Gcc | Cloud::GccHigh | Cloud::Dod => {
                &["securitycenter.microsoft.us", "security.microsoft.us"]
            }
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `commercial`, `gcc`, `gcc-high`, `dod`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cloud `{0}`: expected one of commercial, gcc, gcc-high, dod")]
pub struct UnknownCloud(pub String);

impl FromStr for Cloud {
    type Err = UnknownCloud;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "commercial" | "public" | "global" => Ok(Cloud::Commercial),
            "gcc" => Ok(Cloud::Gcc),
            "gcc-high" | "gcchigh" => Ok(Cloud::GccHigh),
            "dod" => Ok(Cloud::Dod),
            _ => Err(UnknownCloud(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_names_round_trip() {
        for cloud in Cloud::ALL {
            assert_eq!(cloud.to_string().parse::<Cloud>(), Ok(cloud));
        }
        assert_eq!("GCC_HIGH".parse::<Cloud>(), Ok(Cloud::GccHigh));
        assert!("azure-china".parse::<Cloud>().is_err());
    }

    #[test]
    fn hosts_match_the_reference_table() {
        let host = |u: Url| u.host_str().unwrap_or_default().to_owned();
        assert_eq!(
            host(Cloud::Commercial.api_url()),
            "api.securitycenter.microsoft.com"
        );
        assert_eq!(
            host(Cloud::Gcc.api_url()),
            "api-gcc.securitycenter.microsoft.us"
        );
        assert_eq!(host(Cloud::Gcc.login_url()), "login.microsoftonline.com");
        assert_eq!(host(Cloud::Gcc.graph_url()), "graph.microsoft.com");
        assert_eq!(
            host(Cloud::GccHigh.api_url()),
            "api-gov.securitycenter.microsoft.us"
        );
        assert_eq!(host(Cloud::GccHigh.login_url()), "login.microsoftonline.us");
        assert_eq!(host(Cloud::GccHigh.portal_url()), "security.microsoft.us");
        assert_eq!(host(Cloud::Dod.portal_url()), "security.apps.mil");
        assert_eq!(host(Cloud::Dod.graph_url()), "dod-graph.microsoft.us");
        assert_eq!(
            Cloud::Gcc.defender_scope(),
            "https://api.securitycenter.microsoft.com/.default"
        );
        assert_eq!(
            Cloud::Dod.graph_scope(),
            "https://dod-graph.microsoft.us/.default"
        );
    }
}
