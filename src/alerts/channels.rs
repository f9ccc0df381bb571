//! The channels an alert goes out on: email through the merchant's SMTP server, and a
//! chat channel's incoming webhook. Each is optional; a message goes to every one set.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::json;
use url::Url;

use super::Message;
use crate::configuration::{AlertSettings, EmailChannel, SecretUrl};

/// Why a message did not go out. Never carries the SMTP URL or the webhook's address:
/// both hold credentials.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the alert email could not be built: {0}")]
    Build(String),
    #[error("the SMTP server did not take the alert email: {0}")]
    Smtp(String),
    #[error("the alert webhook did not take the message: {0}")]
    Webhook(String),
}

pub struct Channels {
    email: Option<Email>,
    webhook: Option<Webhook>,
}

struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

struct Webhook {
    http: reqwest::Client,
    url: SecretUrl,
}

impl Channels {
    /// No channel at all: messages go nowhere.
    #[cfg(test)]
    pub fn none() -> Self {
        Self {
            email: None,
            webhook: None,
        }
    }

    /// `None` when no channel is set: there is nobody to tell.
    pub fn from_settings(settings: &AlertSettings, http: reqwest::Client) -> Option<Self> {
        let email = settings.email.as_ref().map(Email::new);
        let webhook = settings.webhook.clone().map(|url| Webhook { http, url });
        (email.is_some() || webhook.is_some()).then_some(Self { email, webhook })
    }

    /// Sends `message` on every channel. It counts as sent when one channel took it: a
    /// channel that is down is logged, and the message is not sent again on the others
    /// (they would get it at every look for as long as it stays down). An error only
    /// when no channel took it.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut first_error = None;
        let mut taken = false;
        for (channel, result) in self.send_each(message).await {
            match result {
                Ok(()) => taken = true,
                Err(error) => {
                    tracing::warn!(%error, channel, "a channel did not take a message");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if !taken => Err(error),
            _ => Ok(()),
        }
    }

    /// Sends `message` on every channel, and tells how each went, by channel name.
    pub async fn send_each(&self, message: &Message) -> Vec<(&'static str, Result<(), SendError>)> {
        let mut results = Vec::new();
        if let Some(email) = &self.email {
            results.push(("alert email", email.send(message).await));
        }
        if let Some(webhook) = &self.webhook {
            results.push(("alert webhook", webhook.send(message).await));
        }
        results
    }
}

/// lettre's URL form, but with `smtp://` meaning STARTTLS required: a password never
/// crosses the network in the clear unless the URL says `tls=none` (a relay on loopback
/// or a private network).
pub fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut parsed = Url::parse(url).map_err(|_| "not a URL".to_owned())?;
    let tls = parsed
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    let others: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(key, _)| key != "tls")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let tls = match (parsed.scheme(), tls.as_deref()) {
        ("smtp", None) => Some("required"),
        ("smtp", Some("none")) => None,
        (_, tls) => tls,
    };
    parsed.set_query(None);
    {
        let mut query = parsed.query_pairs_mut();
        query.extend_pairs(others);
        if let Some(tls) = tls {
            query.append_pair("tls", tls);
        }
    }
    if parsed.query() == Some("") {
        parsed.set_query(None);
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(parsed.as_str())
        .map(|builder| builder.build())
        .map_err(|error| format!("{error}"))
}

impl Email {
    fn new(channel: &EmailChannel) -> Self {
        Self {
            transport: smtp_transport(channel.smtp_url.expose_secret())
                .expect("SMTP_URL was checked when the configuration was read"),
            from: channel.from.clone(),
            to: channel.to.clone(),
        }
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(&message.subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|error| SendError::Build(error.to_string()))?;
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|error| SendError::Smtp(without_url(&error.to_string())))
    }
}

impl Webhook {
    async fn send(&self, message: &Message) -> Result<(), SendError> {
        // Slack reads `<...>` as mentions and links, and `&` as an escape: a visitor's
        // name must not become `<!channel>` or a disguised link in the merchant's chat.
        let escape = |text: &str| {
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let text = format!("*{}*\n{}", escape(&message.subject), escape(&message.text));
        let response = self
            .http
            .post(self.url.0.expose_secret())
            .json(&json!({ "text": text }))
            .send()
            .await
            .map_err(|error| SendError::Webhook(without_url(&error.without_url().to_string())))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SendError::Webhook(format!(
                "answered {}",
                response.status()
            )))
        }
    }
}

/// Error texts are logged: cut anything after a scheme, in case a library quotes an
/// address with its credentials.
fn without_url(text: &str) -> String {
    match text.find("://") {
        Some(at) => format!("{} (address left out)", &text[..at]),
        None => text.to_owned(),
    }
}
