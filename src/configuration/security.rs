//! Who may do what, and from where: `ADMIN_TOKEN`, `METRICS_TOKEN`, `SECRET_KEY`, `CLIENT_IP_HEADER`,
//! `FRAME_ANCESTORS`, `ALLOWED_ORIGINS`, `RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST` and
//! the Turnstile CAPTCHA. Secret values are never echoed in a problem.

use std::num::NonZeroU32;

use actix_web::http::header::HeaderName;
use secrecy::{SecretSlice, SecretString};
use url::Url;

use crate::captcha::{CaptchaSettings, TURNSTILE_VERIFY_URL};

use super::reader::{Read, Reader};

/// The shortest `ADMIN_TOKEN` or `METRICS_TOKEN` accepted (`openssl rand -hex 32` makes
/// 64).
const MIN_ADMIN_TOKEN_CHARS: usize = 32;
const SECRET_KEY_MIN_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `ADMIN_TOKEN`; `None` disables `/admin` (except in demo mode, where it is open).
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// `METRICS_TOKEN`; `None`: there is no `/metrics`.
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT_PER_MINUTE`
    pub per_minute: NonZeroU32,
    /// `RATE_LIMIT_BURST`
    pub burst: NonZeroU32,
}

/// `ADMIN_TOKEN` opens everything the admin can do, over the network: it must be long
/// enough that guessing it, even at the rate the guess limit allows, is hopeless.
pub(super) fn read_admin(env: &mut Reader<'_>) -> Read<AdminSettings> {
    let token = read_long_token(env, "ADMIN_TOKEN")?;
    Ok(AdminSettings { token })
}

/// A bearer token guessed at over the network: at least [`MIN_ADMIN_TOKEN_CHARS`].
fn read_long_token(env: &mut Reader<'_>, name: &str) -> Read<Option<SecretString>> {
    let token = env.value(name);
    if token
        .as_ref()
        .is_some_and(|t| t.chars().count() < MIN_ADMIN_TOKEN_CHARS)
    {
        return Err(env.problem(format!(
            "{name}: at least {MIN_ADMIN_TOKEN_CHARS} characters; make one with \
             `openssl rand -hex 32`"
        )));
    }
    Ok(token.map(SecretString::from))
}

/// `METRICS_TOKEN`: the bearer token Prometheus scrapes `/metrics` with. Held to the same
/// length as `ADMIN_TOKEN`: it is guessed at over the network in the same way, under
/// the same limit.
pub(super) fn read_metrics(env: &mut Reader<'_>) -> Read<MetricsSettings> {
    let token = read_long_token(env, "METRICS_TOKEN")?;
    Ok(MetricsSettings { token })
}

/// `SECRET_KEY`: hex or base64, required outside demo mode.
pub(super) fn read_secret_key(env: &mut Reader<'_>, demo: bool) -> Read<Option<SecretSlice<u8>>> {
    let Some(raw) = env.value("SECRET_KEY") else {
        if demo {
            return Ok(None);
        }
        return Err(env.problem(
            "SECRET_KEY: required outside demo mode; 32 or more random bytes as hex or base64 \
             (for example from `openssl rand -hex 32`)",
        ));
    };
    let decoded = hex::decode(&raw).ok().or_else(|| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&raw)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&raw))
            .ok()
    });
    match decoded {
        Some(bytes) if bytes.len() >= SECRET_KEY_MIN_BYTES => Ok(Some(bytes.into())),
        // The value is a secret: say what is wrong with it, never what it is.
        _ => Err(env.problem(
            "SECRET_KEY: expected 32 or more random bytes as hex or base64 (the value given is \
             not shown)",
        )),
    }
}

pub(super) fn read_client_ip_header(env: &mut Reader<'_>) -> Read<Option<HeaderName>> {
    env.read("CLIENT_IP_HEADER", "an HTTP header name", |raw| {
        HeaderName::try_from(raw).ok()
    })
}

/// Space-separated CSP sources: `'none'`, `'self'`, or origins such as
/// `https://shop.example.com`. Anything that could smuggle another directive is refused.
pub(super) fn read_frame_ancestors(env: &mut Reader<'_>) -> Read<String> {
    let expected = "'none', 'self' or origins such as https://shop.example.com separated by \
                    spaces";
    let sources = env.read("FRAME_ANCESTORS", expected, |raw| {
        let sources: Vec<&str> = raw.split_whitespace().collect();
        let alone = !(sources.len() > 1 && sources.contains(&"'none'"));
        (alone && sources.iter().all(|s| is_frame_source(s))).then(|| sources.join(" "))
    });
    Ok(sources?.unwrap_or_else(|| "'none'".to_owned()))
}

fn is_frame_source(source: &str) -> bool {
    matches!(source, "'none'" | "'self'")
        || Url::parse(source).is_ok_and(|url| is_origin(&url) && !source.ends_with('/'))
}

/// An http(s) URL that names an origin and nothing more.
fn is_origin(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.path() == "/"
        && url.query().is_none()
}

/// The targets of the embedded pages' messages, from the `frame-ancestors` sources (checked
/// already): each origin as a browser serializes it, and `'self'` for the page's own
/// origin. With `'none'`, nobody may frame the pages, and the own origin is as harmless
/// a target as any.
pub(super) fn parent_origins(frame_ancestors: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for source in frame_ancestors.split_whitespace() {
        let target = match source {
            "'self'" => source.to_owned(),
            "'none'" => continue,
            origin => match Url::parse(origin).map(|url| url.origin()) {
                Ok(origin) if origin.is_tuple() => origin.ascii_serialization(),
                _ => continue,
            },
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        targets.push("'self'".to_owned());
    }
    targets
}

/// `ALLOWED_ORIGINS`: origins (`https://shop.example.com`), separated by commas or spaces.
pub(super) fn read_allowed_origins(env: &mut Reader<'_>) -> Read<Vec<String>> {
    let Some(raw) = env.value("ALLOWED_ORIGINS") else {
        return Ok(Vec::new());
    };
    let mut origins = Vec::new();
    for item in raw.split([',', ' ']).filter(|s| !s.is_empty()) {
        match Url::parse(item) {
            Ok(url) if is_origin(&url) => origins.push(url.origin().ascii_serialization()),
            _ => {
                return Err(env.problem(format!(
                    "ALLOWED_ORIGINS: expected origins such as https://shop.example.com, got \
                     {item:?}"
                )));
            }
        }
    }
    Ok(origins)
}

pub(super) fn read_rate_limit(env: &mut Reader<'_>) -> Read<RateLimitSettings> {
    let per_minute = env.parsed("RATE_LIMIT_PER_MINUTE", "a whole number of at least 1");
    let burst = env.parsed("RATE_LIMIT_BURST", "a whole number of at least 1");
    Ok(RateLimitSettings {
        per_minute: per_minute?.unwrap_or(NonZeroU32::new(6).expect("not zero")),
        burst: burst?.unwrap_or(NonZeroU32::new(3).expect("not zero")),
    })
}

/// `TURNSTILE_SITE_KEY` and `TURNSTILE_SECRET_KEY`, both or neither, and
/// `TURNSTILE_VERIFY_URL`.
pub(super) fn read_captcha(env: &mut Reader<'_>) -> Read<Option<CaptchaSettings>> {
    let site_key = env.value("TURNSTILE_SITE_KEY");
    let secret_key = env.secret("TURNSTILE_SECRET_KEY");
    let verify_url = env.url("TURNSTILE_VERIFY_URL")?;
    match (site_key, secret_key) {
        (None, None) => Ok(None),
        (Some(site_key), Some(secret_key)) => Ok(Some(CaptchaSettings {
            site_key,
            secret_key,
            verify_url: verify_url.unwrap_or_else(|| {
                Url::parse(TURNSTILE_VERIFY_URL).expect("a constant URL parses")
            }),
        })),
        _ => Err(env.problem(
            "TURNSTILE_SITE_KEY/TURNSTILE_SECRET_KEY: set both to use Cloudflare Turnstile, or \
             neither",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;

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
    fn a_short_metrics_token_is_refused_without_being_echoed() {
        let Err(err) = settings(&[("METRICS_TOKEN", "short-s3cr3t")]) else {
            panic!("a short metrics token was accepted");
        };
        let message = err.to_string();
        assert!(message.contains("METRICS_TOKEN"), "{message}");
        assert!(
            !message.contains("s3cr3t"),
            "the token was echoed: {message}"
        );
        let long = "m".repeat(32);
        let accepted = settings(&[("METRICS_TOKEN", long.as_str())]).unwrap();
        assert!(accepted.metrics.token.is_some());
        assert!(settings(&[]).unwrap().metrics.token.is_none());
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
}
