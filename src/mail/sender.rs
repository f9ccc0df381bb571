//! Sends what the outbox holds, each email once its person's consent allows it.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::task::JoinHandle;

use super::{Composer, MailKind, MailOutbox, VisitorMail};
use crate::consent::{ConsentChannel, ConsentLedger, ConsentState, standing};
use crate::events::retry_wait;
use crate::storage::{StorageError, now_ms};
use crate::tasks::spawn_woken;

/// How often the outbox is looked at when nothing wakes the sender.
const POLL: Duration = Duration::from_secs(5);
/// Emails claimed at a time, and how long a claim holds.
const BATCH: usize = 20;
const CLAIM: Duration = Duration::from_secs(60);
/// An email the server has not taken for this long is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// At most one confirmation to one address in this long, whatever a form is sent.
const ONE_CONFIRMATION_PER: Duration = Duration::from_secs(24 * 3600);

pub struct VisitorMailer {
    pub outbox: Arc<dyn MailOutbox>,
    pub ledger: Arc<dyn ConsentLedger>,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    pub composer: Composer,
    pub wake: Arc<tokio::sync::Notify>,
}

/// Why an email was not sent. Never the server's own words: they may quote the address.
#[derive(Debug)]
enum Failure {
    /// The server refused it for good (5xx): trying again would not help.
    Refused(String),
    /// Anything else: tried again later.
    Failed(String),
}

/// What becomes of one email.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Send,
    /// Not sent, for this reason.
    Drop(&'static str),
    /// Sent no earlier than this (Unix ms).
    Later(i64),
}

/// When a confirmation may go, given when the last one went to the address: one a day.
/// A signup held after the last one went (the visitor's second signup of the day) waits
/// for the next day's; one held before it is covered, and dropped: a bot sending an
/// address again and again makes at most one more email, never one a day for each.
fn confirmation_timing(mail: &VisitorMail, last_sent_ms: Option<i64>, now_ms: i64) -> Verdict {
    let day = ONE_CONFIRMATION_PER.as_millis() as i64;
    match last_sent_ms {
        Some(last) if last > now_ms - day => {
            if mail.signup.is_some() && mail.created_at_ms > last {
                Verdict::Later(last + day)
            } else {
                Verdict::Drop("a confirmation went to this address today")
            }
        }
        _ => Verdict::Send,
    }
}

impl VisitorMailer {
    /// Sends what is due now, then again whenever an email is posted or [`POLL`] has
    /// passed, until aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        let wake = Arc::clone(&self.wake);
        let mailer = Arc::new(self);
        spawn_woken("visitor mail", POLL, wake, move || {
            let mailer = Arc::clone(&mailer);
            async move { mailer.send_due().await }
        })
    }

    async fn send_due(&self) {
        let Ok(due) = self.outbox.claim_due(BATCH, CLAIM).await else {
            // The database is away; the delivery worker tells of that. Try at the next poll.
            return;
        };
        for mail in due {
            if let Err(error) = self.handle(&mail).await {
                tracing::warn!(%error, kind = mail.kind.as_str(), "an email to a visitor waits for the database; it is tried again after its claim");
            }
        }
    }

    async fn handle(&self, mail: &VisitorMail) -> Result<(), StorageError> {
        match self.verdict(mail).await? {
            Verdict::Drop(why) => {
                tracing::info!(
                    kind = mail.kind.as_str(),
                    why,
                    "an email to a visitor was not sent"
                );
                self.outbox.settle(&mail.id, why).await
            }
            Verdict::Later(at_ms) => {
                let why = "one confirmation a day: this one goes with the next";
                tracing::info!(
                    kind = mail.kind.as_str(),
                    why,
                    "an email to a visitor waits"
                );
                self.outbox.retry_at(&mail.id, at_ms, why).await
            }
            Verdict::Send => match self.send(mail).await {
                Ok(()) => {
                    tracing::info!(kind = mail.kind.as_str(), "an email to a visitor was sent");
                    self.outbox.sent(&mail.id).await
                }
                Err(Failure::Refused(error)) => {
                    tracing::warn!(
                        kind = mail.kind.as_str(),
                        error,
                        "the mail server refused an email to a visitor for good"
                    );
                    self.outbox.settle(&mail.id, &error).await
                }
                Err(Failure::Failed(error)) => self.failed(mail, &error).await,
            },
        }
    }

    /// Read right before sending, so that a withdrawal or a confirmation made since the
    /// email was queued counts.
    async fn verdict(&self, mail: &VisitorMail) -> Result<Verdict, StorageError> {
        let history = self.ledger.history(&mail.person).await?;
        let email = standing(&history).remove(&ConsentChannel::Email);
        let state = email.map(|s| s.state);
        if state == Some(ConsentState::Withdrawn) {
            return Ok(Verdict::Drop("the person withdrew"));
        }
        if mail.kind == MailKind::Welcome
            && self
                .outbox
                .last_sent(&mail.person, MailKind::Welcome)
                .await?
                .is_some()
        {
            return Ok(Verdict::Drop("a welcome went to this address before"));
        }
        if mail.kind == MailKind::Confirmation {
            // A held signup waits for its own link, whatever else was confirmed.
            if state == Some(ConsentState::Confirmed) && mail.signup.is_none() {
                return Ok(Verdict::Drop("already confirmed"));
            }
            let last = self
                .outbox
                .last_sent(&mail.person, MailKind::Confirmation)
                .await?;
            return Ok(confirmation_timing(mail, last, now_ms()));
        }
        Ok(Verdict::Send)
    }

    async fn send(&self, mail: &VisitorMail) -> Result<(), Failure> {
        // A confirmation link is dated from when its email was queued, with the signup it
        // confirms: sent late (the mail server was down), it still ends when the held
        // signup is forgotten, not days after.
        let composed = self.composer.compose(mail, mail.created_at_ms / 1000);
        let to: Mailbox = mail
            .email
            .parse()
            .map_err(|_| Failure::Refused("the address is not one a mail server takes".into()))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&composed.subject)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                composed.list_unsubscribe.clone(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                composed.text,
                composed.html,
            ))
            .map_err(|error| Failure::Refused(format!("the email could not be built: {error}")))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|error| {
                let said = match error.status() {
                    Some(code) => format!("the mail server answered {code}"),
                    None if error.is_timeout() => "the mail server did not answer in time".into(),
                    None => "the mail server could not be reached".into(),
                };
                if error.is_permanent() {
                    Failure::Refused(said)
                } else {
                    Failure::Failed(said)
                }
            })
    }

    async fn failed(&self, mail: &VisitorMail, error: &str) -> Result<(), StorageError> {
        let age = Duration::from_millis(u64::try_from(now_ms() - mail.created_at_ms).unwrap_or(0));
        if age >= GIVE_UP_AFTER {
            tracing::error!(
                kind = mail.kind.as_str(),
                error,
                "an email to a visitor was not taken for a day; given up"
            );
            return self.outbox.settle(&mail.id, "not taken for a day").await;
        }
        let wait = retry_wait(mail.attempts);
        tracing::warn!(
            kind = mail.kind.as_str(),
            attempt = mail.attempts,
            retry_in_s = wait.as_secs(),
            error,
            "an email to a visitor was not taken; trying again"
        );
        let next = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        self.outbox.retry_at(&mail.id, next, error).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::PersonKeys;

    const HOUR: i64 = 3_600_000;

    fn confirmation(created_at_ms: i64, held: Option<&str>) -> VisitorMail {
        let person = PersonKeys::new(None).of("ana@example.com");
        let mut mail = VisitorMail::new(MailKind::Confirmation, person, "ana@example.com", "en");
        mail.created_at_ms = created_at_ms;
        mail.signup = held.map(str::to_owned);
        mail
    }

    #[test]
    fn a_second_signup_of_the_day_gets_its_confirmation_the_next_day_and_a_flood_one_more() {
        let morning = 9 * HOUR;
        let afternoon = confirmation(14 * HOUR, Some("second"));
        assert_eq!(
            confirmation_timing(&afternoon, Some(morning), 14 * HOUR),
            Verdict::Later(morning + 24 * HOUR)
        );
        assert_eq!(
            confirmation_timing(&afternoon, Some(morning), 33 * HOUR),
            Verdict::Send,
            "a day after the last"
        );
        // Queued before the last one went: that one was the day's.
        let flooded = confirmation(10 * HOUR, Some("bot"));
        assert_eq!(
            confirmation_timing(&flooded, Some(33 * HOUR), 34 * HOUR),
            Verdict::Drop("a confirmation went to this address today")
        );
        // A confirmation of consent alone (no signup held) is not worth a second email.
        let consent_only = confirmation(14 * HOUR, None);
        assert_eq!(
            confirmation_timing(&consent_only, Some(morning), 14 * HOUR),
            Verdict::Drop("a confirmation went to this address today")
        );
        assert_eq!(confirmation_timing(&consent_only, None, 0), Verdict::Send);
    }
}
