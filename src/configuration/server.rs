//! Where the service listens, the address visitors use, how much it serves at once, and
//! how it logs: `HOST`, `PORT`, `PUBLIC_URL`, `MAX_CONNECTIONS`,
//! `MAX_CONNECTIONS_PER_ADDRESS`, `REQUEST_TIMEOUT_SECONDS` and `LOG_FORMAT`.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use url::Url;

use super::reader::{Read, Reader};
use super::security;

/// Requests in flight from one address: far more than a person's browser (or a shop's
/// handful of staff behind one router) keeps open, far fewer than `MAX_CONNECTIONS`.
const DEFAULT_PER_ADDRESS: usize = 16;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `HOST`
    pub host: IpAddr,
    /// `PORT`; 0 picks a free port (tests).
    pub port: u16,
    /// `PUBLIC_URL`: the address visitors use.
    pub public_url: Url,
    /// `CLIENT_IP_HEADER`: the header a trusted proxy puts the visitor's address in.
    pub client_ip_header: Option<HeaderName>,
    /// `FRAME_ANCESTORS`: the CSP `frame-ancestors` sources allowed to embed the pages.
    pub frame_ancestors: String,
    /// `MAX_CONNECTIONS`: open connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// `MAX_CONNECTIONS_PER_ADDRESS`: without `CLIENT_IP_HEADER`, connections open at
    /// once from one TCP peer address (IPv6 by /64); with it, requests in flight at once
    /// from one visitor address as the header names it. More are refused at once.
    pub max_connections_per_address: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: the deadline of a whole request, body included.
    pub request_timeout: Duration,
    /// `ALLOWED_ORIGINS`: other sites whose pages may post signups here (CORS for the JSON
    /// API, and the Origin check of every POST). Serialized origins, no trailing slash.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `HOST`, `PORT` and `PUBLIC_URL`: where the service listens and the address visitors use.
pub(super) struct Address {
    host: IpAddr,
    port: u16,
    public_url: Url,
}

pub(super) fn read_address(env: &mut Reader<'_>) -> Read<Address> {
    let host = env.parsed("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0");
    let port = env.parsed::<u16>("PORT", "a port number from 0 to 65535");
    let public_url = env.url("PUBLIC_URL");
    let port = port?.unwrap_or(8080);
    let public_url = match public_url? {
        Some(url) => url,
        // On Fly.io the app's own address, since `PUBLIC_URL`'s host is the only one answered.
        None => env
            .read("FLY_APP_NAME", "a Fly.io app name", |app| {
                Url::parse(&format!("https://{app}.fly.dev")).ok()
            })?
            .unwrap_or_else(|| loopback_url(port)),
    };
    Ok(Address {
        host: host?.unwrap_or(IpAddr::from([127, 0, 0, 1])),
        port,
        public_url,
    })
}

fn loopback_url(port: u16) -> Url {
    Url::parse(&format!("http://127.0.0.1:{port}")).expect("a loopback address parses")
}

/// The rest of the server's settings: the connection-level security settings (read by
/// `security`), then `MAX_CONNECTIONS`, `MAX_CONNECTIONS_PER_ADDRESS` and
/// `REQUEST_TIMEOUT_SECONDS`.
pub(super) fn read(env: &mut Reader<'_>, address: Read<Address>) -> Read<ServerSettings> {
    const AT_LEAST_ONE: &str = "a whole number of at least 1";
    let client_ip_header = security::read_client_ip_header(env);
    let frame_ancestors = security::read_frame_ancestors(env);
    let allowed_origins = security::read_allowed_origins(env);
    let max_connections = env.parsed::<usize>("MAX_CONNECTIONS", AT_LEAST_ONE);
    let per_address = match env.parsed::<usize>("MAX_CONNECTIONS_PER_ADDRESS", AT_LEAST_ONE) {
        // Zero would refuse every request.
        Ok(Some(0)) => Err(env.problem(format!(
            "MAX_CONNECTIONS_PER_ADDRESS: expected {AT_LEAST_ONE}, got 0"
        ))),
        other => other,
    };
    let request_timeout = env.parsed::<u64>("REQUEST_TIMEOUT_SECONDS", "a whole number of seconds");
    let Address {
        host,
        port,
        public_url,
    } = address?;
    Ok(ServerSettings {
        host,
        port,
        public_url,
        client_ip_header: client_ip_header?,
        frame_ancestors: frame_ancestors?,
        max_connections: max_connections?.unwrap_or(2_000).max(1),
        max_connections_per_address: per_address?.unwrap_or(DEFAULT_PER_ADDRESS),
        request_timeout: Duration::from_secs(request_timeout?.unwrap_or(30).max(1)),
        allowed_origins: allowed_origins?,
    })
}

/// `LOG_FORMAT`: human-readable lines or one JSON object per line.
pub(super) fn read_log_format(env: &mut Reader<'_>) -> Read<LogFormat> {
    let format = env.read("LOG_FORMAT", "pretty or json", |raw| match raw {
        "pretty" => Some(LogFormat::Pretty),
        "json" => Some(LogFormat::Json),
        _ => None,
    });
    Ok(format?.unwrap_or(LogFormat::Pretty))
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;

    #[test]
    fn on_fly_the_public_url_defaults_to_the_apps_address() {
        let settings = settings(&[
            ("FLY_APP_NAME", "signup-shop"),
            ("CLOVER_AUTH", "token"),
            ("SECRET_KEY", &"5e".repeat(32)),
        ])
        .expect("valid");
        assert_eq!(
            settings.server.public_url.as_str(),
            "https://signup-shop.fly.dev/"
        );
    }

    #[test]
    fn requests_per_address_default_to_sixteen_and_must_be_at_least_one() {
        let defaults = settings(&[]).expect("defaults are valid");
        assert_eq!(defaults.server.max_connections_per_address, 16);
        let set = settings(&[("MAX_CONNECTIONS_PER_ADDRESS", "4")]).expect("valid");
        assert_eq!(set.server.max_connections_per_address, 4);
        for bad in ["0", "-1", "many"] {
            let err = settings(&[("MAX_CONNECTIONS_PER_ADDRESS", bad), ("PORT", "eighty")])
                .expect_err("refused");
            let message = err.to_string();
            assert!(
                message.contains("MAX_CONNECTIONS_PER_ADDRESS") && message.contains("PORT"),
                "{message}"
            );
        }
    }
}
