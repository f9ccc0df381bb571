//! How the service reaches Clover: `CLOVER_AUTH` and the variables of each mode, the
//! environment and region that pick Clover's hosts, and the bound on every request.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::clover::{CloverEnvironment, CloverRegion, MerchantId};

use super::reader::{Read, Reader, Reported};

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
    pub fn mode(&self) -> AuthMode {
        match self {
            Self::Demo => AuthMode::Demo,
            Self::Token { .. } => AuthMode::Token,
            Self::OAuth(_) => AuthMode::OAuth,
        }
    }
}

/// `CLOVER_AUTH`: how the service reaches Clover, as pages and `status.json` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Demo,
    Token,
    OAuth,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Token => "token",
            Self::OAuth => "oauth",
        }
    }
}

pub(super) fn read(env: &mut Reader<'_>) -> Read<CloverSettings> {
    let environment =
        env.parsed::<CloverEnvironment>("CLOVER_ENVIRONMENT", "sandbox or production");
    let region = env.parsed::<CloverRegion>("CLOVER_REGION", "na, eu or la");
    let api_override = env.url("CLOVER_API_BASE_URL");
    let web_override = env.url("CLOVER_WEB_BASE_URL");
    let timeout = env.parsed::<u64>("CLOVER_TIMEOUT_SECONDS", "a whole number of seconds ≥ 1");
    let auth = read_auth(env);

    let environment = environment?.unwrap_or_default();
    let region = region?.unwrap_or_default();
    let timeout = timeout?.unwrap_or(10);
    if timeout == 0 {
        env.problem("CLOVER_TIMEOUT_SECONDS: expected a whole number of seconds ≥ 1, got 0");
    }
    Ok(CloverSettings {
        auth: auth?,
        environment,
        region,
        api_base_url: api_override?.unwrap_or_else(|| environment.api_base_url(region)),
        web_base_url: web_override?.unwrap_or_else(|| environment.web_base_url(region)),
        request_timeout: Duration::from_secs(timeout.max(1)),
    })
}

fn read_auth(env: &mut Reader<'_>) -> Read<CloverAuthSettings> {
    let mode = env.value("CLOVER_AUTH");
    let merchant_id = env.value("CLOVER_MERCHANT_ID");
    let api_token = env.secret("CLOVER_API_TOKEN");
    match mode.as_deref().unwrap_or("demo") {
        "demo" if env.value("FLY_APP_NAME").is_some() => Err(env.problem(
            "CLOVER_AUTH: demo mode delivers nothing to Clover and is refused on Fly.io \
             (FLY_APP_NAME is set); set CLOVER_AUTH=token with its variables",
        )),
        "demo" => Ok(CloverAuthSettings::Demo),
        "token" => read_token(env, merchant_id.as_deref(), api_token),
        "oauth" => read_oauth(env, merchant_id.as_deref()),
        other => Err(env.problem(format!(
            "CLOVER_AUTH: expected demo, token or oauth, got {other:?}"
        ))),
    }
}

/// `CLOVER_MERCHANT_ID` and `CLOVER_API_TOKEN`: both, or neither (then the merchant enters
/// them on the admin page).
fn read_token(
    env: &mut Reader<'_>,
    merchant_id: Option<&str>,
    api_token: Option<SecretString>,
) -> Read<CloverAuthSettings> {
    let merchant_id = parse_merchant(env, merchant_id)?;
    let missing = match (&merchant_id, &api_token) {
        (None, Some(_)) => Some(
            "CLOVER_MERCHANT_ID: required with CLOVER_API_TOKEN (or leave both unset and enter \
             them on the admin page)",
        ),
        (Some(_), None) => Some(
            "CLOVER_API_TOKEN: required with CLOVER_MERCHANT_ID (Merchant Dashboard → Settings \
             → API Tokens, with Customers read and write), or leave both unset and enter them \
             on the admin page",
        ),
        _ => None,
    };
    if let Some(problem) = missing {
        env.problem(problem);
    }
    Ok(CloverAuthSettings::Token {
        merchant_id,
        api_token,
    })
}

fn read_oauth(env: &mut Reader<'_>, merchant_id: Option<&str>) -> Read<CloverAuthSettings> {
    let app_id = env.value("CLOVER_APP_ID");
    let app_secret = env.secret("CLOVER_APP_SECRET");
    let legacy_token = env.secret("CLOVER_LEGACY_TOKEN");
    let margin = env.parsed::<u64>("OAUTH_REFRESH_MARGIN_SECONDS", "a whole number of seconds");
    if app_id.is_none() {
        env.problem(
            "CLOVER_APP_ID: required when CLOVER_AUTH=oauth (the app's id in Clover's \
             Developer Dashboard)",
        );
    }
    let expected_merchant = parse_merchant(env, merchant_id)?;
    if legacy_token.is_some() && expected_merchant.is_none() {
        env.problem("CLOVER_LEGACY_TOKEN: needs CLOVER_MERCHANT_ID, the merchant it belongs to");
    }
    Ok(CloverAuthSettings::OAuth(OAuthSettings {
        app_id: app_id.ok_or(Reported)?,
        app_secret,
        expected_merchant,
        legacy_token,
        refresh_margin: Duration::from_secs(margin?.unwrap_or(60)),
    }))
}

fn parse_merchant(env: &mut Reader<'_>, raw: Option<&str>) -> Read<Option<MerchantId>> {
    raw.map(|raw| {
        MerchantId::parse(raw)
            .map_err(|expected| env.problem(format!("CLOVER_MERCHANT_ID: expected {expected}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::settings;
    use super::CloverAuthSettings;

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
}
