//! Clover's OAuth v2 endpoints: the authorize URL, and the token, refresh, recovery and
//! migrate_v2 calls, all JSON on the API host.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::clover::MerchantId;

/// The app as registered in Clover's Developer Dashboard.
#[derive(Clone)]
pub struct OAuthApp {
    pub app_id: String,
    /// Absent for a low-trust app, which proves itself with PKCE instead.
    pub app_secret: Option<SecretString>,
    pub api_base: Url,
    pub web_base: Url,
    /// `PUBLIC_URL` + `/oauth/callback`.
    pub redirect_uri: Url,
}

/// An access/refresh pair as Clover issues it; expirations in Unix seconds.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: SecretString,
    pub access_expires_at: i64,
    pub refresh_token: SecretString,
    pub refresh_expires_at: i64,
}

/// Why a token call did not produce what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Clover said no (4xx): the code, token or app is not accepted.
    #[error("Clover refused ({status}): {message}")]
    Refused { status: u16, message: String },
    /// A refresh refused because its token was spent already, with Clover's word
    /// (`X-Clover-Recovery-Available: true`) that recovery with it would work.
    #[error("Clover says the refresh token was spent already, and can be recovered")]
    SpentButRecoverable,
    /// The request never reached Clover: nothing changed there; trying later is safe.
    #[error("could not reach Clover: {0}")]
    Unreachable(String),
    /// Sent, but no usable answer came back (timeout, reset, 5xx): Clover may have acted.
    #[error("no usable answer from Clover: {0}")]
    AnswerLost(String),
}

pub struct OAuthApi {
    http: reqwest::Client,
    app: OAuthApp,
}

impl OAuthApi {
    pub fn new(app: OAuthApp, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "clover-signup/",
                env!("CARGO_PKG_VERSION"),
                " (web signup form)"
            ))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, app })
    }

    pub fn app(&self) -> &OAuthApp {
        &self.app
    }

    /// Where to send the merchant's browser to approve the app. Naming the merchant skips
    /// Clover's merchant chooser, so an admin with several merchants cannot pick the
    /// wrong one.
    pub fn authorize_url(
        &self,
        state: &str,
        code_challenge: Option<&str>,
        merchant: Option<&MerchantId>,
    ) -> Url {
        let mut url = self.app.web_base.clone();
        url.set_path("/oauth/v2/authorize");
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.app.app_id)
                .append_pair("redirect_uri", self.app.redirect_uri.as_str())
                .append_pair("response_type", "code")
                .append_pair("state", state);
            if let Some(merchant) = merchant {
                query.append_pair("merchant_id", merchant.as_ref());
            }
            if let Some(challenge) = code_challenge {
                query
                    .append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    /// Exchanges an authorization code for a pair: with the app secret, or with the PKCE
    /// verifier when the app has none.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: Option<&SecretString>,
    ) -> Result<TokenPair, TokenError> {
        let mut body = json!({"client_id": self.app.app_id, "code": code});
        match (&self.app.app_secret, verifier) {
            (Some(secret), _) => body["client_secret"] = secret.expose_secret().into(),
            (None, Some(verifier)) => body["code_verifier"] = verifier.expose_secret().into(),
            (None, None) => {
                return Err(TokenError::Refused {
                    status: 0,
                    message: "neither an app secret nor a PKCE verifier".to_owned(),
                });
            }
        }
        self.pair("/oauth/v2/token", &body).await
    }

    /// Spends `refresh_token` (single use) for a new pair. No secret: Clover's refresh
    /// takes only the app id and the token.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenPair, TokenError> {
        let body =
            json!({"client_id": self.app.app_id, "refresh_token": refresh_token.expose_secret()});
        self.pair("/oauth/v2/refresh", &body).await
    }

    /// After a refresh whose answer was lost: trades the refresh token that was spent (the
    /// one immediately before the pair Clover holds now, which Clover calls the recovery
    /// token) for a new pair. Only for apps with their secret.
    pub async fn recover(&self, spent_refresh: &SecretString) -> Result<TokenPair, TokenError> {
        let Some(secret) = &self.app.app_secret else {
            return Err(TokenError::Refused {
                status: 0,
                message: "recovery needs the app secret".to_owned(),
            });
        };
        let body = json!({
            "client_id": self.app.app_id,
            "client_secret": secret.expose_secret(),
            "recovery_token": spent_refresh.expose_secret(),
        });
        self.pair("/oauth/v2/recovery", &body).await
    }

    /// Turns a legacy (v1, non-expiring) token into an authorization code for the v2 flow.
    pub async fn migrate(
        &self,
        merchant_id: &MerchantId,
        legacy_token: &SecretString,
        code_challenge: Option<&str>,
    ) -> Result<String, TokenError> {
        let mut body = json!({
            "merchant_uuid": merchant_id.as_ref(),
            "app_uuid": self.app.app_id,
            "auth_token": legacy_token.expose_secret(),
        });
        if let Some(challenge) = code_challenge {
            body["code_challenge"] = challenge.into();
        }
        #[derive(Deserialize)]
        struct Migrated {
            authorization_code: String,
        }
        let answer = self.post("/oauth/token/migrate_v2", &body).await?;
        serde_json::from_value::<Migrated>(answer)
            .map(|m| m.authorization_code)
            .map_err(|e| TokenError::AnswerLost(format!("unreadable migrate_v2 answer: {e}")))
    }

    async fn pair(&self, path: &str, body: &Value) -> Result<TokenPair, TokenError> {
        let answer = self.post(path, body).await?;
        parse_pair(&answer)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, TokenError> {
        let mut url = self.app.api_base.clone();
        url.set_path(path);
        let response = self.http.post(url).json(body).send().await.map_err(|e| {
            // Only a failure to connect proves the request never arrived.
            if e.is_connect() {
                TokenError::Unreachable("could not connect to Clover".to_owned())
            } else if e.is_timeout() {
                TokenError::AnswerLost("no answer from Clover in time".to_owned())
            } else {
                TokenError::AnswerLost("the connection to Clover failed".to_owned())
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|_| TokenError::AnswerLost("the answer was cut off".to_owned()))?;
        // Rate limited or timed out at Clover's door: nothing was done, try later.
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            return Err(TokenError::Unreachable(format!("Clover answered {status}")));
        }
        if status.is_server_error() {
            return Err(TokenError::AnswerLost(format!("Clover answered {status}")));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED && recovery_available(&headers) {
            return Err(TokenError::SpentButRecoverable);
        }
        if !status.is_success() {
            let message: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            return Err(TokenError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::AnswerLost("the answer was not JSON".to_owned()))
    }
}

/// `X-Clover-Recovery-Available: true` on a refused refresh.
fn recovery_available(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get("x-clover-recovery-available")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// Reads a pair strictly: both tokens must be present (never fall back to the old refresh
/// token, which is spent), and expirations are taken as Clover sends them.
fn parse_pair(answer: &Value) -> Result<TokenPair, TokenError> {
    let token = |key: &str| {
        answer[key]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| TokenError::AnswerLost(format!("the answer has no {key}")))
    };
    let expiry = |key: &str| {
        answer[key]
            .as_i64()
            .map(unix_seconds)
            .ok_or_else(|| TokenError::AnswerLost(format!("the answer has no {key}")))
    };
    Ok(TokenPair {
        access_token: token("access_token")?,
        access_expires_at: expiry("access_token_expiration")?,
        refresh_token: token("refresh_token")?,
        refresh_expires_at: expiry("refresh_token_expiration")?,
    })
}

/// Clover documents seconds; accept milliseconds too rather than read them as the year
/// 50,000.
fn unix_seconds(value: i64) -> i64 {
    if value > 100_000_000_000 {
        value / 1000
    } else {
        value
    }
}

/// A PKCE verifier (RFC 7636: 43 to 128 characters) and its S256 challenge.
pub fn pkce_pair() -> (SecretString, String) {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes); // 64 characters
    let challenge = pkce_challenge(&verifier);
    (SecretString::from(verifier), challenge)
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// At least 128 random bits, URL-safe: the `state` of one connect attempt.
pub fn random_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_matches_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_have_rfc_7636s_length_and_alphabet() {
        let (verifier, challenge) = pkce_pair();
        let verifier = verifier.expose_secret();
        assert!((43..=128).contains(&verifier.len()));
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(challenge.len(), 43);
    }

    #[test]
    fn a_pair_without_a_refresh_token_is_refused() {
        let answer = json!({"access_token": "a", "access_token_expiration": 1, "refresh_token_expiration": 2});
        assert!(parse_pair(&answer).is_err());
    }

    #[test]
    fn expirations_in_milliseconds_are_read_as_seconds() {
        assert_eq!(unix_seconds(1_677_875_430_000), 1_677_875_430);
        assert_eq!(unix_seconds(1_677_875_430), 1_677_875_430);
    }
}
