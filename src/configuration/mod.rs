//! Typed settings read from the environment (or a `.env` file loaded by `main`).
//!
//! Each area's file owns its variables, their documentation and their checks: `server`,
//! `database`, `clover`, `form` with its `brand` and `theme`, `delivery`, `security` and
//! `alerts`.
//! Every variable is read through one `reader::Reader`, which collects problems
//! instead of stopping at the first: a bad configuration stops start-up with a single
//! message that names every offending variable and what it expects. Values of secret
//! variables are never echoed.

mod alerts;
mod brand;
mod clover;
mod consent;
mod database;
mod delivery;
mod form;
mod kiosk;
mod reader;
mod security;
mod server;
mod theme;

use secrecy::SecretSlice;

use crate::storage::DatabaseLocation;

pub use alerts::{
    AlertSettings, Cadence, DigestSettings, EmailChannel, EventWebhook, MailServer, SecretUrl,
};
pub use brand::Branding;
pub use clover::{AuthMode, CloverAuthSettings, CloverSettings, OAuthSettings};
pub use consent::{ConsentSettings, DoubleOptIn, WelcomeEmail};
pub use delivery::DeliverySettings;
pub use form::FormSettings;
pub use kiosk::KioskSettings;
pub use reader::ConfigError;
pub use security::{AdminSettings, MetricsSettings, RateLimitSettings};
pub use server::{LogFormat, ServerSettings};
pub use theme::{Color, Theme};

use reader::{Read, Reader};

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    /// `DATABASE_URL`: a SQLite file, or a PostgreSQL database several instances share.
    pub database: DatabaseLocation,
    pub clover: CloverSettings,
    pub admin: AdminSettings,
    /// `METRICS_TOKEN`: who may scrape `/metrics`.
    pub metrics: MetricsSettings,
    /// `SECRET_KEY`: signs admin sessions and form tokens, and encrypts stored tokens.
    pub secret_key: Option<SecretSlice<u8>>,
    pub rate_limit: RateLimitSettings,
    pub form: FormSettings,
    pub delivery: DeliverySettings,
    /// `LOG_FORMAT`: human-readable lines or one JSON object per line.
    pub log_format: LogFormat,
    /// Where the merchant hears of trouble: email, a chat webhook.
    pub alerts: AlertSettings,
    /// What the consent ledger keeps.
    pub consent: ConsentSettings,
    /// The counter tablet's timings and allowance.
    pub kiosk: KioskSettings,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set.
    /// Tests pass a map here, so they configure the service exactly as an operator does.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader::new(&lookup);
        let settings = read(&mut env);
        env.finish(settings)
    }
}

/// Reads every variable, each area in turn, before giving up on any: the order is that of
/// the problems in the message.
fn read(env: &mut Reader<'_>) -> Read<Settings> {
    let address = server::read_address(env);
    let database = database::read(env);
    let clover = clover::read(env);
    let demo = matches!(&clover, Ok(c) if matches!(c.auth, CloverAuthSettings::Demo));
    let admin = security::read_admin(env);
    let metrics = security::read_metrics(env);
    let secret_key = security::read_secret_key(env, demo);
    let server = server::read(env, address);
    let rate_limit = security::read_rate_limit(env);
    let frame_ancestors = server.as_ref().map(|s| s.frame_ancestors.as_str());
    let form = form::read(env, frame_ancestors.map_err(|r| *r));
    let clover_timeout = clover.as_ref().ok().map(|c| c.request_timeout);
    let delivery = delivery::read(env, clover_timeout);
    let log_format = server::read_log_format(env);
    let alerts = alerts::read(env);
    let mail_server = matches!(&alerts, Ok(a) if a.mail.is_some());
    let has_secret_key = matches!(&secret_key, Ok(Some(_)));
    let consent = consent::read(env, mail_server, has_secret_key);
    let kiosk = kiosk::read(env);
    if let (Ok(delivery), Ok(consent)) = (&delivery, &consent)
        && delivery.duplicate_policy == crate::domain::DuplicatePolicy::Update
        && consent.double_opt_in == DoubleOptIn::Marketing
    {
        // The customer goes to Clover before the visitor proved the address theirs.
        env.problem(
            "DUPLICATE_POLICY=update with DOUBLE_OPT_IN=marketing would let anyone who knows \
             an address change that customer before confirming it; use DOUBLE_OPT_IN=all \
             (nothing reaches Clover until confirmed) or DUPLICATE_POLICY=skip",
        );
    }
    Ok(Settings {
        server: server?,
        database: database?,
        clover: clover?,
        admin: admin?,
        metrics: metrics?,
        secret_key: secret_key?,
        rate_limit: rate_limit?,
        form: form?,
        delivery: delivery?,
        log_format: log_format?,
        alerts: alerts?,
        consent: consent?,
        kiosk: kiosk?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(super) fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn no_configuration_at_all_is_demo_mode_on_loopback_port_8080() {
        let settings = settings(&[]).expect("defaults are valid");
        assert!(matches!(settings.clover.auth, CloverAuthSettings::Demo));
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.server.host.to_string(), "127.0.0.1");
        assert_eq!(
            settings.server.public_url.as_str(),
            "http://127.0.0.1:8080/"
        );
        assert!(matches!(
            settings.database,
            DatabaseLocation::Sqlite(path) if path.to_str() == Some("data/clover-signup.db")
        ));
        assert_eq!(
            settings.clover.api_base_url.as_str(),
            "https://apisandbox.dev.clover.com/"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_without_echoing_secrets() {
        let err = settings(&[
            ("PORT", "eighty"),
            ("CLOVER_AUTH", "token"),
            ("CLOVER_API_TOKEN", "s3cr3t-token-value"),
            ("SECRET_KEY", "too-short-s3cr3t"),
            ("DUPLICATE_POLICY", "merge"),
            ("FORM_REQUIRED", "email,shoe_size"),
        ])
        .expect_err("configuration is invalid");
        let message = err.to_string();
        for variable in [
            "PORT",
            "CLOVER_MERCHANT_ID",
            "SECRET_KEY",
            "DUPLICATE_POLICY",
            "FORM_REQUIRED",
        ] {
            assert!(
                message.contains(variable),
                "{variable} missing from {message}"
            );
        }
        assert!(!message.contains("s3cr3t"), "a secret leaked: {message}");
    }

    #[test]
    fn every_variable_read_is_documented_in_env_example_and_the_configuration_reference() {
        let read = std::sync::Mutex::new(Vec::new());
        // Each mode reads its own variables.
        for mode in ["demo", "token", "oauth"] {
            let _ = Settings::from_lookup(|name| {
                read.lock().unwrap().push(name.to_owned());
                (name == "CLOVER_AUTH").then(|| mode.to_owned())
            });
        }
        let env_example = include_str!("../../.env.example");
        let reference = include_str!("../../docs/configuration.md");
        // Set by the platform, not by the operator.
        let platform = ["FLY_APP_NAME"];
        for name in read.into_inner().unwrap() {
            if platform.contains(&name.as_str()) {
                continue;
            }
            assert!(
                env_example.contains(&format!("{name}=")),
                "{name} missing from .env.example"
            );
            assert!(
                reference.contains(&format!("`{name}`")),
                "{name} missing from docs/configuration.md"
            );
        }
    }
}
