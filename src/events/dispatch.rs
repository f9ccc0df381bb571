//! Sends the outbox's events to `EVENT_WEBHOOK_URL`, each signed, until the receiver
//! answers 2xx: again after 1 s, 2 s, 4 s ... (at most 10 minutes apart) for a day, then
//! the event is abandoned (kept, no longer sent). Delivery is at least once: an event
//! whose answer was lost is sent again, with the same id, which receivers use to ignore
//! a repeat.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{EventOutbox, OutboxEvent};
use crate::configuration::SecretUrl;
use crate::storage::now_ms;
use crate::tasks::spawn_woken;

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Signup-Signature";
/// How long an event is tried before it is abandoned.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two tries.
const LONGEST_WAIT: Duration = Duration::from_secs(600);
/// How long a claim on a batch lasts: longer than sending the whole batch may take
/// ([`BATCH`] sends of up to 10 s each), so that no other instance takes it meanwhile.
const CLAIM: Duration = Duration::from_secs(60);
/// How often the outbox is looked at when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);
/// Events sent per look.
const BATCH: usize = 5;

pub struct EventDispatcher {
    pub outbox: Arc<dyn EventOutbox>,
    pub http: reqwest::Client,
    pub url: SecretUrl,
    pub secret: SecretString,
    pub wake: Arc<Notify>,
}

/// The signature of `body` sent at `unix_secs`, as [`SIGNATURE_HEADER`] carries it.
pub fn sign(secret: &str, unix_secs: i64, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{unix_secs}.{body}").as_bytes());
    format!(
        "t={unix_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl EventDispatcher {
    /// Sends what is due now, then again whenever an event is added or [`POLL`] has
    /// passed, until aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        let wake = Arc::clone(&self.wake);
        let dispatcher = Arc::new(self);
        spawn_woken("events", POLL, wake, move || {
            let dispatcher = Arc::clone(&dispatcher);
            async move { dispatcher.send_due().await }
        })
    }

    async fn send_due(&self) {
        let Ok(due) = self.outbox.claim_due(BATCH, CLAIM).await else {
            // The database is away; the delivery worker tells of that. Try at the next poll.
            return;
        };
        for event in due {
            let outcome = self.send(&event).await;
            let recorded = match outcome {
                Ok(()) => self.outbox.sent(&event.id).await,
                Err(error) => self.failed(&event, &error).await,
            };
            if let Err(error) = recorded {
                tracing::warn!(%error, event = %event.id, "could not record an event's sending; it is sent again after its claim");
            }
        }
    }

    async fn send(&self, event: &OutboxEvent) -> Result<(), String> {
        let signature = sign(self.secret.expose_secret(), now_ms() / 1000, &event.body);
        let response = self
            .http
            .post(self.url.0.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("X-Signup-Event", &event.kind)
            .header("X-Signup-Event-Id", &event.id)
            .body(event.body.clone())
            .send()
            .await
            // The address is a credential: never in an error that is logged or stored.
            .map_err(|error| error.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }

    async fn failed(
        &self,
        event: &OutboxEvent,
        error: &str,
    ) -> Result<(), crate::storage::StorageError> {
        let age = Duration::from_millis(u64::try_from(now_ms() - event.created_at_ms).unwrap_or(0));
        if age >= GIVE_UP_AFTER {
            tracing::error!(event = %event.id, kind = %event.kind, error, "an event was not taken for a day; abandoned");
            return self.outbox.abandon(&event.id, error).await;
        }
        let wait = retry_wait(event.attempts);
        tracing::warn!(event = %event.id, kind = %event.kind, attempt = event.attempts, retry_in_s = wait.as_secs(), error, "an event was not taken; trying again");
        let next = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        self.outbox.retry_at(&event.id, next, error).await
    }
}

/// The wait after the `attempts`-th failed try: 1 s, 2 s, 4 s ... at most [`LONGEST_WAIT`].
/// The stored outboxes (events, emails to visitors) wait alike.
pub(crate) fn retry_wait(attempts: u32) -> Duration {
    let doubled = Duration::from_secs(1).saturating_mul(1 << attempts.saturating_sub(1).min(20));
    doubled.min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_ten_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 4, 5, 11, 40]
            .map(|n| retry_wait(n).as_secs())
            .to_vec();
        assert_eq!(waits, [1, 2, 4, 8, 16, 600, 600]);
    }

    #[test]
    fn a_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign("key", 1_700_000_000, "{}"),
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
