//! Where alerts and events go: `SMTP_URL` and `MAIL_FROM` for the mail server every email
//! goes through (alerts, and the emails to visitors), `ALERT_EMAIL` for alerts by email,
//! `ALERT_WEBHOOK_URL` for a chat channel, and `EVENT_WEBHOOK_URL` with
//! `EVENT_WEBHOOK_SECRET` (and `EVENT_WEBHOOK_PERSONAL_DATA`) for other systems. Every
//! channel is optional; one set up halfway stops start-up. Secrets are never echoed.

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::reader::{Read, Reader};

#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// `SMTP_URL` and `MAIL_FROM`: the server and sender of every email.
    pub mail: Option<MailServer>,
    /// The mail server with `ALERT_EMAIL`'s recipients.
    pub email: Option<EmailChannel>,
    /// `ALERT_WEBHOOK_URL`: a Slack-compatible incoming webhook (`{"text": ...}`).
    pub webhook: Option<SecretUrl>,
    /// Every event, signed, for other systems.
    pub events: Option<EventWebhook>,
    /// `NOTIFY_EACH_SIGNUP`: a message on the alert channels for every new signup.
    pub each_signup: bool,
    /// `NOTIFY_FULL_EMAIL`: those messages show the whole email address, not a masked one.
    pub full_email: bool,
    pub digest: DigestSettings,
}

/// `DIGEST`: how often the merchant gets a summary on the alert channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Off,
    Daily,
    Weekly,
}

#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// `DIGEST`: `daily` (the default), `weekly` (on Mondays) or `off`.
    pub cadence: Cadence,
    /// `DIGEST_HOUR`: the hour of the day it is sent, 0-23, in `TIMEZONE`.
    pub hour: u8,
    /// `TIMEZONE`: the merchant's IANA time zone, such as `America/New_York`.
    pub time_zone: jiff::tz::TimeZone,
    /// `DIGEST_WHEN_QUIET`: send one even for a period with nothing to say.
    pub when_quiet: bool,
}

#[derive(Debug, Clone)]
pub struct EventWebhook {
    /// `EVENT_WEBHOOK_URL`
    pub url: SecretUrl,
    /// `EVENT_WEBHOOK_SECRET`: the key of each event's HMAC-SHA256 signature.
    pub secret: SecretString,
    /// `EVENT_WEBHOOK_PERSONAL_DATA`: signup events carry names, email and phone.
    pub personal_data: bool,
}

/// The shortest `EVENT_WEBHOOK_SECRET` accepted: a signature is as strong as its key.
const MIN_EVENT_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone)]
pub struct MailServer {
    /// `SMTP_URL`, as in [`EmailChannel::smtp_url`].
    pub smtp_url: SecretString,
    /// `MAIL_FROM`
    pub from: Mailbox,
}

#[derive(Debug, Clone)]
pub struct EmailChannel {
    /// `SMTP_URL`, in lettre's form: `smtp://user:pass@host:587` (STARTTLS required) or
    /// `smtps://user:pass@host:465` (TLS from the start); `?tls=none` for a relay that
    /// speaks no TLS, on loopback or a private network.
    pub smtp_url: SecretString,
    /// `MAIL_FROM`: `Shop name <signups@shop.example>`.
    pub from: Mailbox,
    /// `ALERT_EMAIL`: comma-separated recipients.
    pub to: Vec<Mailbox>,
}

/// A webhook address: its path is the credential, so it is kept like one.
#[derive(Debug, Clone)]
pub struct SecretUrl(pub SecretString);

pub(super) fn read(env: &mut Reader<'_>) -> Read<AlertSettings> {
    let mail = read_email(env);
    let webhook = read_webhook(env, "ALERT_WEBHOOK_URL");
    let events = read_events(env);
    let each_signup = read_flag(env, "NOTIFY_EACH_SIGNUP");
    let full_email = read_flag(env, "NOTIFY_FULL_EMAIL");
    let digest = read_digest(env);
    let ((mail, email), webhook, each_signup) = (mail?, webhook?, each_signup?);
    if each_signup && email.is_none() && webhook.is_none() {
        return Err(env.problem(
            "NOTIFY_EACH_SIGNUP: needs an alert channel to send on (SMTP_URL, MAIL_FROM and \
             ALERT_EMAIL, or ALERT_WEBHOOK_URL)",
        ));
    }
    Ok(AlertSettings {
        mail,
        email,
        webhook,
        events: events?,
        each_signup,
        full_email: full_email?,
        digest: digest?,
    })
}

/// The mail server, and the alert email's channel when `ALERT_EMAIL` names recipients.
fn read_email(env: &mut Reader<'_>) -> Read<(Option<MailServer>, Option<EmailChannel>)> {
    let smtp_url = env.secret("SMTP_URL");
    let from = env.read(
        "MAIL_FROM",
        "an address such as `Shop <signups@shop.example>`",
        |raw| raw.parse::<Mailbox>().ok(),
    );
    let to = env.read("ALERT_EMAIL", "comma-separated email addresses", |raw| {
        raw.split(',')
            .map(|one| one.trim().parse::<Mailbox>().ok())
            .collect::<Option<Vec<_>>>()
    });
    let smtp_ok = match &smtp_url {
        Some(url) if !smtp_url_is_usable(url.expose_secret()) => Err(env.problem(
            "SMTP_URL: expected smtp://user:password@host:587 (STARTTLS) or \
             smtps://user:password@host:465 (TLS); the value given is not shown",
        )),
        _ => Ok(()),
    };
    let (from, to) = (from?, to?);
    smtp_ok?;
    let mail = match (smtp_url, from) {
        (None, None) => None,
        (Some(smtp_url), Some(from)) => Some(MailServer { smtp_url, from }),
        (smtp_url, _) => {
            let missing = if smtp_url.is_none() {
                "SMTP_URL"
            } else {
                "MAIL_FROM"
            };
            return Err(env.problem(format!(
                "{missing}: email needs SMTP_URL and MAIL_FROM together"
            )));
        }
    };
    match (mail, to) {
        (mail, None) => Ok((mail, None)),
        (Some(mail), Some(to)) => {
            let channel = EmailChannel {
                smtp_url: mail.smtp_url.clone(),
                from: mail.from.clone(),
                to,
            };
            Ok((Some(mail), Some(channel)))
        }
        (None, Some(_)) => {
            Err(env
                .problem("ALERT_EMAIL: alert email needs SMTP_URL and MAIL_FROM to send through"))
        }
    }
}

/// What lettre's URL reader accepts, checked here so that a typo stops start-up rather
/// than the first alert.
fn smtp_url_is_usable(raw: &str) -> bool {
    Url::parse(raw).is_ok_and(|url| {
        let tls_understood = url.query_pairs().all(|(key, value)| {
            key != "tls" || matches!(&*value, "none" | "required" | "opportunistic")
        });
        matches!(url.scheme(), "smtp" | "smtps")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && tls_understood
    })
}

fn read_webhook(env: &mut Reader<'_>, name: &str) -> Read<Option<SecretUrl>> {
    let Some(raw) = env.secret(name) else {
        return Ok(None);
    };
    let usable = Url::parse(raw.expose_secret())
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
    if !usable {
        return Err(env.problem(format!(
            "{name}: expected an https URL of a webhook; the value given is not shown"
        )));
    }
    Ok(Some(SecretUrl(raw)))
}

fn read_digest(env: &mut Reader<'_>) -> Read<DigestSettings> {
    let cadence = env.read("DIGEST", "daily, weekly or off", |raw| {
        match raw.to_ascii_lowercase().as_str() {
            "daily" => Some(Cadence::Daily),
            "weekly" => Some(Cadence::Weekly),
            "off" => Some(Cadence::Off),
            _ => None,
        }
    });
    let hour = env.read("DIGEST_HOUR", "an hour from 0 to 23", |raw| {
        raw.parse::<u8>().ok().filter(|hour| *hour < 24)
    });
    let time_zone = env.read(
        "TIMEZONE",
        "an IANA time zone such as America/New_York or Europe/Paris",
        |raw| jiff::tz::TimeZone::get(raw).ok(),
    );
    let when_quiet = read_flag(env, "DIGEST_WHEN_QUIET");
    Ok(DigestSettings {
        cadence: cadence?.unwrap_or(Cadence::Daily),
        hour: hour?.unwrap_or(8),
        time_zone: time_zone?.unwrap_or(jiff::tz::TimeZone::UTC),
        when_quiet: when_quiet?,
    })
}

fn read_flag(env: &mut Reader<'_>, name: &str) -> Read<bool> {
    env.read(name, "true or false", |raw| raw.parse::<bool>().ok())
        .map(Option::unwrap_or_default)
}

fn read_events(env: &mut Reader<'_>) -> Read<Option<EventWebhook>> {
    let url = read_webhook(env, "EVENT_WEBHOOK_URL");
    let secret = env.secret("EVENT_WEBHOOK_SECRET");
    let personal_data = read_flag(env, "EVENT_WEBHOOK_PERSONAL_DATA");
    let (url, personal_data) = (url?, personal_data?);
    match (url, secret) {
        (None, None) => Ok(None),
        (Some(url), Some(secret))
            if secret.expose_secret().chars().count() >= MIN_EVENT_SECRET_CHARS =>
        {
            Ok(Some(EventWebhook {
                url,
                secret,
                personal_data,
            }))
        }
        (Some(_), Some(_)) => Err(env.problem(format!(
            "EVENT_WEBHOOK_SECRET: at least {MIN_EVENT_SECRET_CHARS} characters; make one \
             with `openssl rand -hex 32`"
        ))),
        (Some(_), None) => Err(env
            .problem("EVENT_WEBHOOK_SECRET: required with EVENT_WEBHOOK_URL, to sign every event")),
        (None, Some(_)) => Err(env.problem(
            "EVENT_WEBHOOK_URL: required with EVENT_WEBHOOK_SECRET (where the events go)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::configuration::tests::settings;

    const BASE: &[(&str, &str)] = &[("CLOVER_AUTH", "demo")];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn email_needs_its_server_and_sender_and_names_the_missing_one() {
        let error = settings(&with(&[("SMTP_URL", "smtp://u:hunter2@mail.example:587")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("MAIL_FROM: email needs SMTP_URL and MAIL_FROM"),
            "{error}"
        );
        assert!(!error.contains("hunter2"));
        let error = settings(&with(&[("ALERT_EMAIL", "owner@shop.example")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("ALERT_EMAIL: alert email needs SMTP_URL"),
            "{error}"
        );
        // A server and a sender alone are for the emails to visitors: no alerts by email.
        let mail_only = settings(&with(&[
            ("SMTP_URL", "smtp://u:hunter2@mail.example:587"),
            ("MAIL_FROM", "Shop <signups@shop.example>"),
        ]))
        .unwrap();
        assert!(mail_only.alerts.mail.is_some() && mail_only.alerts.email.is_none());
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_echoing_it() {
        let error = settings(&with(&[
            ("SMTP_URL", "mail.example:587 hunter2"),
            ("MAIL_FROM", "Shop <signups@shop.example>"),
            ("ALERT_EMAIL", "owner@shop.example"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("SMTP_URL: expected"), "{error}");
        assert!(!error.contains("hunter2"));
    }

    #[test]
    fn recipients_are_read_as_a_list() {
        let settings = settings(&with(&[
            ("SMTP_URL", "smtps://u:p@mail.example:465"),
            ("MAIL_FROM", "Shop <signups@shop.example>"),
            (
                "ALERT_EMAIL",
                "owner@shop.example, Manager <manager@shop.example>",
            ),
        ]))
        .unwrap();
        let email = settings.alerts.email.unwrap();
        assert_eq!(email.to.len(), 2);
        assert_eq!(email.from.email.to_string(), "signups@shop.example");
    }

    #[test]
    fn a_bad_recipient_is_named() {
        let error = settings(&with(&[
            ("SMTP_URL", "smtp://mail.example"),
            ("MAIL_FROM", "signups@shop.example"),
            ("ALERT_EMAIL", "owner@shop.example, not an address"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("ALERT_EMAIL: expected comma-separated"),
            "{error}"
        );
    }

    #[test]
    fn the_event_webhook_needs_a_long_secret() {
        let error = settings(&with(&[
            ("EVENT_WEBHOOK_URL", "https://hooks.example/in"),
            ("EVENT_WEBHOOK_SECRET", "short-hunter2"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("EVENT_WEBHOOK_SECRET: at least 32"),
            "{error}"
        );
        assert!(!error.contains("hunter2"));
        let error = settings(&with(&[("EVENT_WEBHOOK_URL", "https://hooks.example/in")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("EVENT_WEBHOOK_SECRET: required"), "{error}");
    }

    #[test]
    fn the_digest_reads_its_zone_and_hour_and_names_a_bad_one() {
        let settings = settings(&with(&[
            ("DIGEST", "weekly"),
            ("DIGEST_HOUR", "18"),
            ("TIMEZONE", "Europe/Paris"),
        ]))
        .unwrap();
        assert_eq!(settings.alerts.digest.cadence, super::Cadence::Weekly);
        assert_eq!(settings.alerts.digest.hour, 18);
        let error = settings_error(&[("TIMEZONE", "Mars/Olympus"), ("DIGEST_HOUR", "24")]);
        assert!(
            error.contains("TIMEZONE: expected an IANA time zone"),
            "{error}"
        );
        assert!(error.contains("DIGEST_HOUR: expected an hour"), "{error}");
    }

    fn settings_error(extra: &[(&'static str, &'static str)]) -> String {
        settings(&with(extra)).unwrap_err().to_string()
    }
}
