//! Typed settings read from the environment (or a `.env` file loaded by `main`).
//!
//! Every variable is read through one [`Reader`], which collects problems instead of stopping
//! at the first: a bad configuration stops start-up with a single message that names every
//! offending variable and what it expects. Values of secret variables are never echoed.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use secrecy::{SecretSlice, SecretString};
use url::Url;

use crate::captcha::{CaptchaSettings, TURNSTILE_VERIFY_URL};
use crate::clover::{CloverEnvironment, CloverRegion, MerchantId};
use crate::domain::{DuplicatePolicy, Field, FormRules};
use crate::i18n::Language;
use crate::storage::DatabaseLocation;
use crate::templates::{Color, Theme};

/// Clover keeps at most 2,000 UTF-16 units of note; the consent wording is quoted in it,
/// beside the visitor's own note of up to 1,000.
const CONSENT_TEXT_MAX_LEN: usize = 500;
/// Short texts of the page's chrome: a name or a heading.
const NAME_MAX_CHARS: usize = 100;
const INTRO_MAX_CHARS: usize = 500;
const SECRET_KEY_MIN_BYTES: usize = 32;
/// A delivery lease is renewed every third of itself: shorter than this, a slow or
/// distant database, or clocks a little apart, could let it run out under a delivery
/// still going.
const MIN_LEASE_SECONDS: u64 = 15;
/// An hour: longer, and a dead instance's deliveries would wait longer than anyone would.
const MAX_LEASE_SECONDS: u64 = 3600;
const DEFAULT_LEASE_SECONDS: u64 = 60;
/// Requests in flight from one address: far more than a person's browser (or a shop's
/// handful of staff behind one router) keeps open, far fewer than `MAX_CONNECTIONS`.
const DEFAULT_PER_ADDRESS: usize = 16;

/// The shortest `ADMIN_TOKEN` accepted (`openssl rand -hex 32` makes 64).
const MIN_ADMIN_TOKEN_CHARS: usize = 32;

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    /// `DATABASE_URL`: the SQLite file of submissions, the delivery queue and tokens.
    /// `DATABASE_URL`: a SQLite file, or a PostgreSQL database several instances share.
    pub database: DatabaseLocation,
    pub clover: CloverSettings,
    pub admin: AdminSettings,
    /// `SECRET_KEY`: signs admin sessions (and later form tokens and stored tokens).
    pub secret_key: Option<SecretSlice<u8>>,
    pub rate_limit: RateLimitSettings,
    pub form: FormSettings,
    pub delivery: DeliverySettings,
    /// `LOG_FORMAT`: human-readable lines or one JSON object per line.
    pub log_format: LogFormat,
}

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

/// The targets of the embedded pages' messages, from the `frame-ancestors` sources (checked
/// already): each origin as a browser serializes it, and `'self'` for the page's own
/// origin. With `'none'`, nobody may frame the pages, and the own origin is as harmless
/// a target as any.
fn parent_origins(frame_ancestors: &str) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    let sources = frame_ancestors.split_whitespace();
    for target in sources.filter_map(|source| match source {
        "'self'" => Some(source.to_owned()),
        "'none'" => None,
        origin => Url::parse(origin)
            .ok()
            .map(|url| url.origin())
            .filter(url::Origin::is_tuple)
            .map(|origin| origin.ascii_serialization()),
    }) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        targets.push("'self'".to_owned());
    }
    targets
}

/// How the service reaches Clover, chosen once at start-up.
#[derive(Debug, Clone)]
pub enum CloverAuthSettings {
    /// A stand-in inside the process keeps customers in the database; nothing reaches Clover.
    Demo,
    /// A merchant-generated API token for one merchant: from the environment, or entered
    /// on the admin page when the environment has none.
    Token {
        merchant_id: Option<MerchantId>,
        api_token: Option<SecretString>,
    },
    /// An OAuth v2 token pair, obtained when the merchant connects from `/admin`.
    OAuth(OAuthSettings),
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `CLOVER_APP_ID`
    pub app_id: String,
    /// `CLOVER_APP_SECRET`; without it the app is low-trust and uses PKCE.
    pub app_secret: Option<SecretString>,
    /// `CLOVER_MERCHANT_ID`: when set, only this merchant may connect.
    pub expected_merchant: Option<MerchantId>,
    /// `CLOVER_LEGACY_TOKEN`: a v1 token to migrate at start (needs `CLOVER_MERCHANT_ID`).
    pub legacy_token: Option<SecretString>,
    /// `OAUTH_REFRESH_MARGIN_SECONDS`: refresh when the access token has less left.
    pub refresh_margin: Duration,
}

impl CloverAuthSettings {
    pub fn mode_name(&self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Token { .. } => "token",
            Self::OAuth(_) => "oauth",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CloverSettings {
    /// `CLOVER_AUTH` with the variables that mode needs.
    pub auth: CloverAuthSettings,
    /// `CLOVER_ENVIRONMENT`
    pub environment: CloverEnvironment,
    /// `CLOVER_REGION`
    pub region: CloverRegion,
    /// `CLOVER_API_BASE_URL`, else Clover's REST host for the environment and region.
    pub api_base_url: Url,
    /// `CLOVER_WEB_BASE_URL`, else Clover's browser host for the environment and region.
    pub web_base_url: Url,
    /// `CLOVER_TIMEOUT_SECONDS`: bound on every request to Clover.
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `ADMIN_TOKEN`; `None` disables `/admin` (except in demo mode, where it is open).
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_PER_MINUTE`
    pub per_minute: NonZeroU32,
    /// `RATE_LIMIT_BURST`
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone)]
pub struct FormSettings {
    /// `FORM_FIELDS` and `FORM_REQUIRED`
    pub rules: FormRules,
    /// `CONSENT_TEXT`; without it, the catalogue's wording in the visitor's language.
    pub consent_text: Option<String>,
    /// How the pages look and who they speak for.
    pub branding: Branding,
    /// `DEFAULT_LANGUAGE`: for visitors whose browser asks for none we speak.
    pub default_language: Language,
    /// `FORM_MIN_FILL_SECONDS`
    pub min_fill: Duration,
    /// `TURNSTILE_SITE_KEY` and `TURNSTILE_SECRET_KEY`, when both are set.
    pub captcha: Option<CaptchaSettings>,
    /// Where the embedded pages send their messages (the height, a signup complete): the
    /// origins `FRAME_ANCESTORS` lists, `'self'` standing for the page's own. Never to
    /// any page at all (`*`), which would tell whoever frames the form.
    pub parent_origins: Vec<String>,
}

/// The merchant's look and words, set without code.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    /// `MERCHANT_NAME`: in the page title, the heading's alt text and the thanks page.
    pub merchant_name: Option<String>,
    /// `FORM_TITLE`: replaces the catalogue's heading in every language.
    pub form_title: Option<String>,
    /// `FORM_INTRO`: replaces the catalogue's introduction in every language.
    pub form_intro: Option<String>,
    /// `LOGO_URL`: an image shown above the form.
    pub logo_url: Option<Url>,
    /// `ACCENT_COLOR`, turned into readable colours.
    pub theme: Theme,
    /// `PRIVACY_URL`: linked under the consent box.
    pub privacy_url: Option<Url>,
    /// `SUCCESS_REDIRECT_URL`: where a visitor goes after signing up, instead of `/thanks`.
    pub success_redirect_url: Option<Url>,
}

#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// `DUPLICATE_POLICY`
    pub duplicate_policy: DuplicatePolicy,
    /// `DELIVERY_BACKOFF_BASE_MS`
    pub backoff_base: Duration,
    /// `DELIVERY_BACKOFF_MAX_MS`
    pub backoff_max: Duration,
    /// `AUTH_RECHECK_SECONDS`: while Clover refuses the credential, how often to try again.
    pub auth_recheck: Duration,
    /// `DELIVERY_LEASE_SECONDS`: how long a claimed submission stays with the instance that
    /// claimed it unless renewed; after that, another instance may take it over.
    pub lease: Duration,
    /// `DATA_RETENTION_DAYS`: how long a delivered submission's personal data is kept.
    pub retention: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Everything wrong with the configuration, reported at once.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        writeln!(f, "the configuration has {count} {noun}:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set.
    /// Tests pass a map here, so they configure the service exactly as an operator does.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let settings = read_settings(&mut env);
        match settings {
            Some(settings) if env.problems.is_empty() => Ok(settings),
            _ => Err(ConfigError {
                problems: env.problems,
            }),
        }
    }
}

fn read_settings(env: &mut Reader<'_>) -> Option<Settings> {
    let host = env.parsed("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0");
    let port = env.parsed::<u16>("PORT", "a port number from 0 to 65535");
    let public_url = env.url("PUBLIC_URL");
    let database = env.database();
    let clover = read_clover(env);
    let admin_token = env.admin_token();
    let secret_key = env.secret_key(clover.as_ref().is_some_and(|c| is_demo(&c.auth)));
    let client_ip_header = env.header_name("CLIENT_IP_HEADER");
    let frame_ancestors = env.frame_ancestors();
    let allowed_origins = env.origins("ALLOWED_ORIGINS");
    let max_connections = env.parsed::<usize>("MAX_CONNECTIONS", "a whole number of at least 1");
    let per_address = match env.parsed::<usize>(
        "MAX_CONNECTIONS_PER_ADDRESS",
        "a whole number of at least 1",
    ) {
        Some(Some(0)) => {
            // Zero would refuse every request.
            env.problem(
                "MAX_CONNECTIONS_PER_ADDRESS: expected a whole number of at least 1, got 0",
            );
            None
        }
        other => other,
    };
    let request_timeout = env.parsed::<u64>("REQUEST_TIMEOUT_SECONDS", "a whole number of seconds");
    let per_minute = env.parsed("RATE_LIMIT_PER_MINUTE", "a whole number of at least 1");
    let burst = env.parsed("RATE_LIMIT_BURST", "a whole number of at least 1");
    let rules = env.form_rules();
    let consent_text = env.consent_text();
    let branding = env.branding();
    let default_language = env.default_language();
    let min_fill = env.parsed::<u64>("FORM_MIN_FILL_SECONDS", "a whole number of seconds");
    let captcha = env.captcha();
    let duplicate_policy = env.parsed("DUPLICATE_POLICY", "one of update, skip or create");
    let backoff_base = env.parsed::<u64>("DELIVERY_BACKOFF_BASE_MS", "milliseconds, at least 1");
    let backoff_max = env.parsed::<u64>("DELIVERY_BACKOFF_MAX_MS", "milliseconds, at least 1");
    let auth_recheck = env.parsed::<u64>("AUTH_RECHECK_SECONDS", "a whole number of seconds");
    let lease = match env.parsed::<u64>("DELIVERY_LEASE_SECONDS", "a whole number of seconds") {
        Some(Some(seconds)) if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&seconds) => {
            env.problem(&format!(
                "DELIVERY_LEASE_SECONDS: from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS} (it is \
                 renewed every third of itself, and a dead instance's deliveries wait that \
                 long), got {seconds}"
            ));
            None
        }
        other => other,
    };
    if let (Some(lease), Some(clover)) = (&lease, &clover) {
        let lease = lease.unwrap_or(DEFAULT_LEASE_SECONDS);
        let timeout = clover.request_timeout.as_secs();
        if lease < 3 * timeout {
            env.problem(&format!(
                "DELIVERY_LEASE_SECONDS ({lease}) must be at least three times \
                 CLOVER_TIMEOUT_SECONDS ({timeout}): a delivery writes to Clover only while a \
                 third of its claim is left, so that no other instance takes it over meanwhile"
            ));
        }
    }
    let retention_days = env.parsed::<u32>("DATA_RETENTION_DAYS", "a whole number of days");
    let log_format = env.log_format();

    if let (Some(Some(public)), Some(branding)) = (&public_url, &branding) {
        let plain_logo = branding
            .logo_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "http");
        if public.scheme() == "https" && plain_logo {
            env.problem(
                "LOGO_URL: expected an https address, since PUBLIC_URL is https (browsers \
                 block http images on https pages)",
            );
        }
    }
    if let (Some(Some(base)), Some(Some(max))) = (backoff_base, backoff_max) {
        if base == 0 || max < base {
            env.problem(
                "DELIVERY_BACKOFF_BASE_MS/DELIVERY_BACKOFF_MAX_MS: expected 1 ≤ base ≤ max",
            );
        }
    }

    let parent_origins = frame_ancestors.as_deref().map(parent_origins);
    let port = port?.unwrap_or(8080);
    // On Fly.io the app's own address, since PUBLIC_URL's host is the only one answered.
    let default_public_url = match env.value("FLY_APP_NAME") {
        Some(app) => Url::parse(&format!("https://{app}.fly.dev")),
        None => Url::parse(&format!("http://127.0.0.1:{port}")),
    }
    .ok()?;
    Some(Settings {
        server: ServerSettings {
            host: host?.unwrap_or(IpAddr::from([127, 0, 0, 1])),
            port,
            public_url: public_url?.unwrap_or(default_public_url),
            client_ip_header: client_ip_header?,
            frame_ancestors: frame_ancestors?,
            allowed_origins: allowed_origins?,
            max_connections: max_connections?.unwrap_or(2_000).max(1),
            max_connections_per_address: per_address?.unwrap_or(DEFAULT_PER_ADDRESS),
            request_timeout: Duration::from_secs(request_timeout?.unwrap_or(30).max(1)),
        },
        database: database?,
        clover: clover?,
        admin: AdminSettings {
            token: admin_token?,
        },
        secret_key: secret_key?,
        rate_limit: RateLimitSettings {
            per_minute: per_minute?.unwrap_or(NonZeroU32::new(6)?),
            burst: burst?.unwrap_or(NonZeroU32::new(3)?),
        },
        form: FormSettings {
            rules: rules?,
            consent_text: consent_text?,
            branding: branding?,
            default_language: default_language?,
            min_fill: Duration::from_secs(min_fill?.unwrap_or(2)),
            captcha: captcha?,
            parent_origins: parent_origins?,
        },
        delivery: DeliverySettings {
            duplicate_policy: duplicate_policy?.unwrap_or_default(),
            backoff_base: Duration::from_millis(backoff_base?.unwrap_or(2_000).max(1)),
            backoff_max: Duration::from_millis(backoff_max?.unwrap_or(600_000).max(1)),
            auth_recheck: Duration::from_secs(auth_recheck?.unwrap_or(60).max(1)),
            lease: Duration::from_secs(lease?.unwrap_or(DEFAULT_LEASE_SECONDS)),
            retention: Duration::from_secs(u64::from(retention_days?.unwrap_or(90)) * 86_400),
        },
        log_format: log_format?,
    })
}

fn is_demo(auth: &CloverAuthSettings) -> bool {
    matches!(auth, CloverAuthSettings::Demo)
}

fn read_clover(env: &mut Reader<'_>) -> Option<CloverSettings> {
    let environment =
        env.parsed::<CloverEnvironment>("CLOVER_ENVIRONMENT", "sandbox or production");
    let region = env.parsed::<CloverRegion>("CLOVER_REGION", "na, eu or la");
    let api_override = env.url("CLOVER_API_BASE_URL");
    let web_override = env.url("CLOVER_WEB_BASE_URL");
    let timeout = env.parsed::<u64>("CLOVER_TIMEOUT_SECONDS", "a whole number of seconds ≥ 1");
    let auth = read_clover_auth(env);

    let environment = environment?.unwrap_or_default();
    let region = region?.unwrap_or_default();
    let timeout = timeout?.unwrap_or(10);
    if timeout == 0 {
        env.problem("CLOVER_TIMEOUT_SECONDS: expected a whole number of seconds ≥ 1, got 0");
    }
    Some(CloverSettings {
        auth: auth?,
        environment,
        region,
        api_base_url: api_override?.unwrap_or_else(|| environment.api_base_url(region)),
        web_base_url: web_override?.unwrap_or_else(|| environment.web_base_url(region)),
        request_timeout: Duration::from_secs(timeout.max(1)),
    })
}

fn read_clover_auth(env: &mut Reader<'_>) -> Option<CloverAuthSettings> {
    let mode = env.value("CLOVER_AUTH");
    let merchant_id = env.value("CLOVER_MERCHANT_ID");
    let api_token = env.secret("CLOVER_API_TOKEN")?;
    match mode.as_deref().unwrap_or("demo") {
        "demo" => {
            if env.value("FLY_APP_NAME").is_some() {
                env.problem(
                    "CLOVER_AUTH: demo mode delivers nothing to Clover and is refused on Fly.io \
                     (FLY_APP_NAME is set); set CLOVER_AUTH=token with its variables",
                );
                return None;
            }
            Some(CloverAuthSettings::Demo)
        }
        "token" => {
            let merchant_id = match merchant_id.as_deref().map(MerchantId::parse) {
                None => None,
                Some(Ok(id)) => Some(id),
                Some(Err(expected)) => {
                    env.problem(&format!("CLOVER_MERCHANT_ID: expected {expected}"));
                    return None;
                }
            };
            // Both, or neither (then the merchant enters them on the admin page).
            match (&merchant_id, &api_token) {
                (None, Some(_)) => env.problem(
                    "CLOVER_MERCHANT_ID: required with CLOVER_API_TOKEN (or leave both unset \
                     and enter them on the admin page)",
                ),
                (Some(_), None) => env.problem(
                    "CLOVER_API_TOKEN: required with CLOVER_MERCHANT_ID (Merchant Dashboard → \
                     Settings → API Tokens, with Customers read and write), or leave both \
                     unset and enter them on the admin page",
                ),
                _ => {}
            }
            Some(CloverAuthSettings::Token {
                merchant_id,
                api_token,
            })
        }
        "oauth" => read_oauth(env, merchant_id),
        other => {
            env.problem(&format!(
                "CLOVER_AUTH: expected demo, token or oauth, got {other:?}"
            ));
            None
        }
    }
}

fn read_oauth(env: &mut Reader<'_>, merchant_id: Option<String>) -> Option<CloverAuthSettings> {
    let app_id = env.value("CLOVER_APP_ID");
    let app_secret = env.secret("CLOVER_APP_SECRET")?;
    let legacy_token = env.secret("CLOVER_LEGACY_TOKEN")?;
    let margin = env.parsed::<u64>("OAUTH_REFRESH_MARGIN_SECONDS", "a whole number of seconds");
    if app_id.is_none() {
        env.problem(
            "CLOVER_APP_ID: required when CLOVER_AUTH=oauth (the app's id in Clover's \
             Developer Dashboard)",
        );
    }
    let expected_merchant = match merchant_id.as_deref().map(MerchantId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(expected)) => {
            env.problem(&format!("CLOVER_MERCHANT_ID: expected {expected}"));
            return None;
        }
    };
    if legacy_token.is_some() && expected_merchant.is_none() {
        env.problem("CLOVER_LEGACY_TOKEN: needs CLOVER_MERCHANT_ID, the merchant it belongs to");
    }
    Some(CloverAuthSettings::OAuth(OAuthSettings {
        app_id: app_id?,
        app_secret,
        expected_merchant,
        legacy_token,
        refresh_margin: Duration::from_secs(margin?.unwrap_or(60)),
    }))
}

/// Reads variables and gathers every problem. Each method returns `None` when the variable
/// was set but unusable (the problem is recorded) and `Some(None)` when it was not set.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn problem(&mut self, text: &str) {
        self.problems.push(text.to_owned());
    }

    /// The trimmed value, treating an empty value as unset (as `.env` files often leave them).
    fn value(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parsed<T: std::str::FromStr>(&mut self, name: &str, expected: &str) -> Option<Option<T>> {
        match self.value(name) {
            None => Some(None),
            Some(raw) => match raw.parse() {
                Ok(value) => Some(Some(value)),
                Err(_) => {
                    self.problem(&format!("{name}: expected {expected}, got {raw:?}"));
                    None
                }
            },
        }
    }

    /// `ADMIN_TOKEN` opens everything the admin can do, over the network: it must be long
    /// enough that guessing it, even at the rate the guess limit allows, is hopeless.
    fn admin_token(&mut self) -> Option<Option<SecretString>> {
        let Some(token) = self.value("ADMIN_TOKEN") else {
            return Some(None);
        };
        if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            self.problem(&format!(
                "ADMIN_TOKEN: at least {MIN_ADMIN_TOKEN_CHARS} characters; make one with \
                 `openssl rand -hex 32`"
            ));
            return None;
        }
        Some(Some(SecretString::from(token)))
    }

    fn secret(&mut self, name: &str) -> Option<Option<SecretString>> {
        Some(self.value(name).map(SecretString::from))
    }

    fn url(&mut self, name: &str) -> Option<Option<Url>> {
        let Some(raw) = self.value(name) else {
            return Some(None);
        };
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                Some(Some(url))
            }
            _ => {
                self.problem(&format!("{name}: expected an http(s) URL, got {raw:?}"));
                None
            }
        }
    }

    fn header_name(&mut self, name: &str) -> Option<Option<HeaderName>> {
        let Some(raw) = self.value(name) else {
            return Some(None);
        };
        match HeaderName::try_from(raw.as_str()) {
            Ok(header) => Some(Some(header)),
            Err(_) => {
                self.problem(&format!(
                    "{name}: expected an HTTP header name, got {raw:?}"
                ));
                None
            }
        }
    }

    /// Space-separated CSP sources: `'none'`, `'self'`, or origins such as
    /// `https://shop.example.com`. Anything that could smuggle another directive is refused.
    fn frame_ancestors(&mut self) -> Option<String> {
        let Some(raw) = self.value("FRAME_ANCESTORS") else {
            return Some("'none'".to_owned());
        };
        let valid_source = |source: &str| {
            matches!(source, "'none'" | "'self'")
                || Url::parse(source).is_ok_and(|url| {
                    matches!(url.scheme(), "http" | "https")
                        && url.has_host()
                        && url.path() == "/"
                        && !source.ends_with('/')
                        && url.query().is_none()
                })
        };
        let sources: Vec<&str> = raw.split_whitespace().collect();
        if sources.iter().all(|s| valid_source(s))
            && !(sources.len() > 1 && sources.contains(&"'none'"))
        {
            Some(sources.join(" "))
        } else {
            self.problem(&format!(
                "FRAME_ANCESTORS: expected 'none', 'self' or origins such as \
                 https://shop.example.com separated by spaces, got {raw:?}"
            ));
            None
        }
    }

    /// A list of origins (`https://shop.example.com`), separated by commas or spaces.
    fn origins(&mut self, name: &str) -> Option<Vec<String>> {
        let Some(raw) = self.value(name) else {
            return Some(Vec::new());
        };
        let mut origins = Vec::new();
        for item in raw.split([',', ' ']).filter(|s| !s.is_empty()) {
            match Url::parse(item) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https")
                        && url.has_host()
                        && url.path() == "/"
                        && url.query().is_none() =>
                {
                    origins.push(url.origin().ascii_serialization());
                }
                _ => {
                    self.problem(&format!(
                        "{name}: expected origins such as https://shop.example.com, got {item:?}"
                    ));
                    return None;
                }
            }
        }
        Some(origins)
    }

    fn captcha(&mut self) -> Option<Option<CaptchaSettings>> {
        let site_key = self.value("TURNSTILE_SITE_KEY");
        let secret_key = self.secret("TURNSTILE_SECRET_KEY")?;
        let verify_url = self.url("TURNSTILE_VERIFY_URL")?;
        match (site_key, secret_key) {
            (None, None) => Some(None),
            (Some(site_key), Some(secret_key)) => Some(Some(CaptchaSettings {
                site_key,
                secret_key,
                verify_url: verify_url.unwrap_or_else(|| {
                    Url::parse(TURNSTILE_VERIFY_URL).expect("a constant URL parses")
                }),
            })),
            _ => {
                self.problem(
                    "TURNSTILE_SITE_KEY/TURNSTILE_SECRET_KEY: set both to use Cloudflare \
                     Turnstile, or neither",
                );
                None
            }
        }
    }

    fn database(&mut self) -> Option<DatabaseLocation> {
        let raw = self
            .value("DATABASE_URL")
            .unwrap_or_else(|| "sqlite://data/clover-signup.db".to_owned());
        match DatabaseLocation::parse(&raw) {
            Ok(location) => Some(location),
            Err(problem) => {
                self.problem(&format!("DATABASE_URL: {problem}"));
                None
            }
        }
    }

    fn secret_key(&mut self, demo: bool) -> Option<Option<SecretSlice<u8>>> {
        let Some(raw) = self.value("SECRET_KEY") else {
            if !demo {
                self.problem(
                    "SECRET_KEY: required outside demo mode; 32 or more random bytes as hex or \
                     base64 (for example from `openssl rand -hex 32`)",
                );
                return None;
            }
            return Some(None);
        };
        let decoded = hex::decode(&raw).ok().or_else(|| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(&raw)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&raw))
                .ok()
        });
        match decoded {
            Some(bytes) if bytes.len() >= SECRET_KEY_MIN_BYTES => Some(Some(bytes.into())),
            // The value is a secret: say what is wrong with it, never what it is.
            _ => {
                self.problem(
                    "SECRET_KEY: expected 32 or more random bytes as hex or base64 (the value \
                     given is not shown)",
                );
                None
            }
        }
    }

    /// A comma-separated list of field names, each known and named once.
    fn field_list(&mut self, name: &str) -> Option<Option<Vec<Field>>> {
        let Some(raw) = self.value(name) else {
            return Some(None);
        };
        let mut fields = Vec::new();
        let mut unknown = Vec::new();
        let mut repeated = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Field::from_name(item) {
                Some(field) if fields.contains(&field) => repeated.push(item.to_owned()),
                Some(field) => fields.push(field),
                None => unknown.push(item.to_owned()),
            }
        }
        let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
        if !unknown.is_empty() {
            self.problem(&format!(
                "{name}: unknown field(s) {}; expected a comma-separated list of {}",
                unknown.join(", "),
                known.join(", ")
            ));
            return None;
        }
        if !repeated.is_empty() {
            self.problem(&format!(
                "{name}: field(s) named twice: {}",
                repeated.join(", ")
            ));
            return None;
        }
        Some(Some(fields))
    }

    fn form_rules(&mut self) -> Option<FormRules> {
        let shown = self.field_list("FORM_FIELDS");
        let required = self.field_list("FORM_REQUIRED");
        let defaults = FormRules::default();
        let fields = shown?.unwrap_or(defaults.fields);
        // The email is how a visitor is matched to an existing customer: always asked for.
        if !fields.contains(&Field::Email) {
            self.problem(
                "FORM_FIELDS: must include email, which is how a visitor is matched to a Clover \
                 customer",
            );
            return None;
        }
        let mut required: BTreeSet<Field> = match required? {
            Some(list) => list.into_iter().collect(),
            None => defaults
                .required
                .into_iter()
                .filter(|f| fields.contains(f))
                .collect(),
        };
        let hidden: Vec<_> = required
            .iter()
            .filter(|f| !fields.contains(f))
            .map(|f| f.name())
            .collect();
        if !hidden.is_empty() {
            self.problem(&format!(
                "FORM_REQUIRED: {} not on the form; add to FORM_FIELDS or remove from \
                 FORM_REQUIRED",
                hidden.join(", ")
            ));
            return None;
        }
        required.insert(Field::Email);
        Some(FormRules { fields, required })
    }

    fn consent_text(&mut self) -> Option<Option<String>> {
        let Some(text) = self.value("CONSENT_TEXT") else {
            return Some(None);
        };
        if crate::domain::clover_length(&text) > CONSENT_TEXT_MAX_LEN
            || text.chars().any(char::is_control)
        {
            self.problem(&format!(
                "CONSENT_TEXT: expected one line of at most {CONSENT_TEXT_MAX_LEN} characters"
            ));
            return None;
        }
        Some(Some(text))
    }

    /// One line of text for the page, at most `max` characters.
    fn one_line(&mut self, name: &str, max: usize) -> Option<Option<String>> {
        let Some(text) = self.value(name) else {
            return Some(None);
        };
        if text.chars().count() > max || text.chars().any(char::is_control) {
            self.problem(&format!(
                "{name}: expected one line of at most {max} characters"
            ));
            return None;
        }
        Some(Some(text))
    }

    fn branding(&mut self) -> Option<Branding> {
        let merchant_name = self.one_line("MERCHANT_NAME", NAME_MAX_CHARS);
        let form_title = self.one_line("FORM_TITLE", NAME_MAX_CHARS);
        let form_intro = self.one_line("FORM_INTRO", INTRO_MAX_CHARS);
        let logo_url = self.url("LOGO_URL");
        let accent = self.value("ACCENT_COLOR").map(|raw| {
            Color::parse_hex(&raw).ok_or_else(|| {
                format!("ACCENT_COLOR: expected a colour such as #1f6f43 or #fa0, got {raw:?}")
            })
        });
        let theme = match accent {
            None => Some(Theme::default()),
            Some(Ok(color)) => Some(Theme::from_accent(color)),
            Some(Err(problem)) => {
                self.problem(&problem);
                None
            }
        };
        let privacy_url = self.url("PRIVACY_URL");
        let success_redirect_url = self.url("SUCCESS_REDIRECT_URL");
        Some(Branding {
            merchant_name: merchant_name?,
            form_title: form_title?,
            form_intro: form_intro?,
            logo_url: logo_url?,
            theme: theme?,
            privacy_url: privacy_url?,
            success_redirect_url: success_redirect_url?,
        })
    }

    fn default_language(&mut self) -> Option<Language> {
        let Some(raw) = self.value("DEFAULT_LANGUAGE") else {
            return Some(Language::reference());
        };
        match Language::from_tag(&raw) {
            Some(language) => Some(language),
            None => {
                let known: Vec<_> = Language::all().map(Language::tag).collect();
                self.problem(&format!(
                    "DEFAULT_LANGUAGE: expected one of {}, got {raw:?}",
                    known.join(", ")
                ));
                None
            }
        }
    }

    fn log_format(&mut self) -> Option<LogFormat> {
        match self.value("LOG_FORMAT").as_deref() {
            None | Some("pretty") => Some(LogFormat::Pretty),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                self.problem(&format!(
                    "LOG_FORMAT: expected pretty or json, got {other:?}"
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
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
    fn duplicates_are_linked_unless_updating_is_chosen() {
        // Anyone who knows a customer's address can submit it: by default nothing they
        // type reaches that customer.
        let default = settings(&[]).unwrap();
        assert_eq!(default.delivery.duplicate_policy, DuplicatePolicy::Skip);
        let update = settings(&[("DUPLICATE_POLICY", "update")]).unwrap();
        assert_eq!(update.delivery.duplicate_policy, DuplicatePolicy::Update);
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
    fn a_short_admin_token_is_refused_with_how_to_make_one() {
        let Err(err) = settings(&[("ADMIN_TOKEN", "1234")]) else {
            panic!("a four-character admin token was accepted");
        };
        let message = err.to_string();
        assert!(message.contains("ADMIN_TOKEN"), "{message}");
        assert!(message.contains("openssl rand -hex 32"), "{message}");
        assert!(!message.contains("1234"), "the token was echoed: {message}");
        let long = "a".repeat(32);
        assert!(settings(&[("ADMIN_TOKEN", long.as_str())]).is_ok());
    }

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

    #[test]
    fn demo_mode_is_refused_on_fly() {
        let err = settings(&[("FLY_APP_NAME", "clover-signup")]).expect_err("refused");
        assert!(err.to_string().contains("CLOVER_AUTH"));
    }

    #[test]
    fn token_mode_with_its_variables_picks_the_regional_host() {
        let settings = settings(&[
            ("CLOVER_AUTH", "token"),
            ("CLOVER_MERCHANT_ID", "TC4DGCJW1K4EW"),
            ("CLOVER_API_TOKEN", "abc"),
            ("SECRET_KEY", &"ab".repeat(32)),
            ("CLOVER_ENVIRONMENT", "production"),
            ("CLOVER_REGION", "eu"),
        ])
        .expect("valid");
        assert_eq!(
            settings.clover.api_base_url.as_str(),
            "https://api.eu.clover.com/"
        );
        assert_eq!(
            settings.clover.web_base_url.as_str(),
            "https://www.eu.clover.com/"
        );
    }

    #[test]
    fn every_variable_read_is_documented_in_env_example_and_the_readme() {
        let read = std::sync::Mutex::new(Vec::new());
        // Each mode reads its own variables.
        for mode in ["demo", "token", "oauth"] {
            let _ = Settings::from_lookup(|name| {
                read.lock().unwrap().push(name.to_owned());
                (name == "CLOVER_AUTH").then(|| mode.to_owned())
            });
        }
        let env_example = include_str!("../.env.example");
        let readme = include_str!("../docs/configuration.md");
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
                readme.contains(&format!("`{name}`")),
                "{name} missing from the README"
            );
        }
    }

    #[test]
    fn oauth_mode_needs_its_app_id_and_a_legacy_token_its_merchant() {
        let err = settings(&[
            ("CLOVER_AUTH", "oauth"),
            ("SECRET_KEY", &"ab".repeat(32)),
            ("CLOVER_LEGACY_TOKEN", "legacy-s3cr3t"),
        ])
        .expect_err("incomplete");
        let message = err.to_string();
        assert!(message.contains("CLOVER_APP_ID"), "{message}");
        assert!(message.contains("CLOVER_LEGACY_TOKEN"), "{message}");
        assert!(!message.contains("legacy-s3cr3t"));

        let settings = settings(&[
            ("CLOVER_AUTH", "oauth"),
            ("SECRET_KEY", &"ab".repeat(32)),
            ("CLOVER_APP_ID", "APP123"),
        ])
        .expect("valid");
        let CloverAuthSettings::OAuth(oauth) = settings.clover.auth else {
            panic!("not oauth");
        };
        assert!(oauth.app_secret.is_none());
        assert_eq!(oauth.refresh_margin, Duration::from_secs(60));
    }

    #[test]
    fn frame_ancestors_take_only_sources_that_cannot_add_a_directive() {
        let ok = settings(&[("FRAME_ANCESTORS", "'self'  https://shop.example.com")]).unwrap();
        assert_eq!(ok.server.frame_ancestors, "'self' https://shop.example.com");
        for bad in [
            "https://shop.example.com; script-src *",
            "*",
            "https://shop.example.com/path",
            "'none' 'self'",
            "javascript:alert(1)",
        ] {
            assert!(
                settings(&[("FRAME_ANCESTORS", bad)]).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn embedded_pages_send_their_messages_to_the_frame_ancestors_only() {
        let targets = |value: Option<&str>| {
            let vars: Vec<_> = value.map(|v| ("FRAME_ANCESTORS", v)).into_iter().collect();
            settings(&vars).unwrap().form.parent_origins
        };
        assert_eq!(targets(None), ["'self'"]);
        assert_eq!(targets(Some("'none'")), ["'self'"]);
        assert_eq!(targets(Some("'self'")), ["'self'"]);
        assert_eq!(
            targets(Some(
                "https://Shop.example.com:443 'self' http://b.example:8080"
            )),
            [
                "https://shop.example.com",
                "'self'",
                "http://b.example:8080"
            ]
        );
    }

    #[test]
    fn a_delivery_lease_outlasts_three_requests_to_clover_and_no_more_than_an_hour() {
        let ok = settings(&[
            ("DELIVERY_LEASE_SECONDS", "30"),
            ("CLOVER_TIMEOUT_SECONDS", "10"),
        ]);
        assert_eq!(ok.unwrap().delivery.lease, Duration::from_secs(30));
        for (lease, timeout) in [("29", "10"), ("2", "1"), ("3601", "10")] {
            let problems = settings(&[
                ("DELIVERY_LEASE_SECONDS", lease),
                ("CLOVER_TIMEOUT_SECONDS", timeout),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                problems.contains("DELIVERY_LEASE_SECONDS"),
                "{lease}: {problems}"
            );
        }
        let default_lease = settings(&[("CLOVER_TIMEOUT_SECONDS", "30")]).unwrap_err();
        assert!(
            default_lease.to_string().contains("three times"),
            "{default_lease}"
        );
    }

    #[test]
    fn database_url_names_a_sqlite_file_or_a_postgres_database() {
        let relative = settings(&[("DATABASE_URL", "sqlite://db/x.db")]).unwrap();
        assert!(
            matches!(relative.database, DatabaseLocation::Sqlite(p) if p.to_str() == Some("db/x.db"))
        );
        let shared = settings(&[("DATABASE_URL", "postgres://app:pw@db:5432/signups")]).unwrap();
        assert!(matches!(shared.database, DatabaseLocation::Postgres(_)));
        let problems = settings(&[("DATABASE_URL", "postgres://app:pw@db:5432")]).unwrap_err();
        assert!(problems.to_string().contains("DATABASE_URL"), "{problems}");
    }
}
