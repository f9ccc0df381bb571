use std::fmt;
use std::str::FromStr;

use url::Url;

/// Sandbox or production: separate hosts, apps and tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CloverEnvironment {
    #[default]
    Sandbox,
    Production,
}

/// The region of the merchant's Clover account, which picks the production hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CloverRegion {
    /// United States and Canada.
    #[default]
    Na,
    Eu,
    La,
}

impl CloverEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    /// The REST host, which also serves `/oauth/v2/token`. The sandbox is one host for all
    /// regions.
    pub fn api_base_url(self, region: CloverRegion) -> Url {
        let host = match (self, region) {
            (Self::Sandbox, _) => "https://apisandbox.dev.clover.com",
            (Self::Production, CloverRegion::Na) => "https://api.clover.com",
            (Self::Production, CloverRegion::Eu) => "https://api.eu.clover.com",
            (Self::Production, CloverRegion::La) => "https://api.la.clover.com",
        };
        Url::parse(host).expect("a constant URL parses")
    }

    /// The host of the browser pages (`/oauth/v2/authorize`). North America needs the
    /// `www.`: the bare domain answers with an error page.
    pub fn web_base_url(self, region: CloverRegion) -> Url {
        let host = match (self, region) {
            (Self::Sandbox, _) => "https://sandbox.dev.clover.com",
            (Self::Production, CloverRegion::Na) => "https://www.clover.com",
            (Self::Production, CloverRegion::Eu) => "https://www.eu.clover.com",
            (Self::Production, CloverRegion::La) => "https://www.la.clover.com",
        };
        Url::parse(host).expect("a constant URL parses")
    }
}

impl CloverRegion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Na => "na",
            Self::Eu => "eu",
            Self::La => "la",
        }
    }
}

impl FromStr for CloverEnvironment {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Self::Sandbox),
            "production" => Ok(Self::Production),
            _ => Err(()),
        }
    }
}

impl FromStr for CloverRegion {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "na" => Ok(Self::Na),
            "eu" => Ok(Self::Eu),
            "la" => Ok(Self::La),
            _ => Err(()),
        }
    }
}

/// A Clover merchant id: 13 upper-case letters and digits, such as `TC4DGCJW1K4EW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantId(String);

impl MerchantId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        let valid = raw.len() == 13
            && raw
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err("13 upper-case letters and digits, such as TC4DGCJW1K4EW")
        }
    }
}

impl AsRef<str> for MerchantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_has_its_own_production_hosts() {
        let prod = CloverEnvironment::Production;
        assert_eq!(
            prod.api_base_url(CloverRegion::Na).as_str(),
            "https://api.clover.com/"
        );
        assert_eq!(
            prod.api_base_url(CloverRegion::La).as_str(),
            "https://api.la.clover.com/"
        );
        assert_eq!(
            prod.web_base_url(CloverRegion::Na).as_str(),
            "https://www.clover.com/"
        );
        assert_eq!(
            prod.web_base_url(CloverRegion::La).as_str(),
            "https://www.la.clover.com/"
        );
    }

    #[test]
    fn the_sandbox_is_one_host_for_all_regions() {
        let sandbox = CloverEnvironment::Sandbox;
        for region in [CloverRegion::Na, CloverRegion::Eu, CloverRegion::La] {
            assert_eq!(
                sandbox.api_base_url(region).as_str(),
                "https://apisandbox.dev.clover.com/"
            );
        }
    }

    #[test]
    fn merchant_ids_are_thirteen_upper_case_alphanumerics() {
        assert!(MerchantId::parse("TC4DGCJW1K4EW").is_ok());
        assert!(MerchantId::parse("tc4dgcjw1k4ew").is_err());
        assert!(MerchantId::parse("TC4DGCJW1K4E").is_err());
        assert!(MerchantId::parse("TC4DGCJW1K4E/").is_err());
    }
}
