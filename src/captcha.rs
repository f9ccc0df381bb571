//! Optional CAPTCHA (Cloudflare Turnstile): with `TURNSTILE_SITE_KEY` and
//! `TURNSTILE_SECRET_KEY` the form shows the widget, and each submission's answer is
//! verified with Cloudflare once, at intake, before it is stored.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Cloudflare's verification endpoint.
pub const TURNSTILE_VERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
/// Where the widget's script comes from (allowed by the CSP when enabled).
pub const TURNSTILE_ORIGIN: &str = "https://challenges.cloudflare.com";
/// A verification that takes longer is treated as unavailable.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct CaptchaSettings {
    /// `TURNSTILE_SITE_KEY`: public, rendered into the form.
    pub site_key: String,
    /// `TURNSTILE_SECRET_KEY`
    pub secret_key: SecretString,
    /// `TURNSTILE_VERIFY_URL`, for tests; Cloudflare's by default.
    pub verify_url: Url,
}

/// What the verifier said about one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptchaVerdict {
    Passed,
    /// No answer, or a wrong or used one: the visitor must try the widget again.
    Failed,
    /// The verifier could not be asked: the visitor is told, and nothing is stored.
    Unavailable,
}

pub struct Captcha {
    settings: CaptchaSettings,
    http: reqwest::Client,
}

impl Captcha {
    pub fn new(settings: CaptchaSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(VERIFY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { settings, http })
    }

    pub fn site_key(&self) -> &str {
        &self.settings.site_key
    }

    pub async fn verify(&self, answer: Option<&str>, remote_ip: Option<&str>) -> CaptchaVerdict {
        let Some(answer) = answer.filter(|a| !a.is_empty() && a.len() <= 2048) else {
            return CaptchaVerdict::Failed;
        };
        let mut form = vec![
            ("secret", self.settings.secret_key.expose_secret()),
            ("response", answer),
        ];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip));
        }
        #[derive(Deserialize)]
        struct Answer {
            success: bool,
        }
        let response = self
            .http
            .post(self.settings.verify_url.clone())
            .form(&form)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => match response.json::<Answer>().await
            {
                Ok(Answer { success: true }) => CaptchaVerdict::Passed,
                Ok(Answer { success: false }) => CaptchaVerdict::Failed,
                Err(_) => CaptchaVerdict::Unavailable,
            },
            _ => CaptchaVerdict::Unavailable,
        }
    }
}
