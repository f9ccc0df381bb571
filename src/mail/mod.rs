//! Emails to visitors: the confirmation of a double opt-in, and the merchant's welcome.
//! Each is first written to a durable outbox (`MailOutbox`, in the database), then sent
//! by `sender.rs` through the merchant's SMTP server, tried again with growing waits for
//! a day. Right before sending, the sender reads the person's consent: nothing goes to
//! someone who withdrew, and at most one confirmation a day goes to one address, so that
//! a bot typing real people's addresses into the form cannot make the merchant a
//! spammer. `compose.rs` words each email in the visitor's language, with the
//! unsubscribe link and headers (RFC 8058) and the merchant's postal address.

mod compose;
mod sender;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use compose::{Composed, Composer};
pub use sender::VisitorMailer;

use crate::consent::PersonKey;
use crate::domain::random_uuid;
use crate::storage::{StorageError, now_ms};

/// What an email to a visitor is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The link that confirms the address (double opt-in).
    Confirmation,
    /// The merchant's welcome.
    Welcome,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Welcome => "welcome",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "confirmation" {
            Self::Confirmation
        } else {
            Self::Welcome
        }
    }
}

/// One email to a visitor, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorMail {
    pub id: String,
    pub kind: MailKind,
    pub person: PersonKey,
    pub email: String,
    /// The language tag the visitor used, which the email speaks.
    pub language: String,
    /// For a confirmation of a held signup (`DOUBLE_OPT_IN=all`): that signup, which its
    /// link confirms and nothing else.
    pub signup: Option<String>,
    pub created_at_ms: i64,
    /// Tries so far, this one included.
    pub attempts: u32,
}

impl VisitorMail {
    /// The confirmation of the held signup `id`.
    pub fn confirming(mut self, id: &str) -> Self {
        self.signup = Some(id.to_owned());
        self
    }

    pub fn new(kind: MailKind, person: PersonKey, email: &str, language: &str) -> Self {
        Self {
            id: random_uuid().to_string(),
            kind,
            person,
            email: email.to_owned(),
            language: language.to_owned(),
            signup: None,
            created_at_ms: now_ms(),
            attempts: 0,
        }
    }
}

/// Where emails to visitors wait; implemented for SQLite and PostgreSQL in `storage`.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    async fn add(&self, mail: &VisitorMail) -> Result<(), StorageError>;
    /// Claims up to `limit` emails due now, oldest first, until `lease` runs out,
    /// counting the try.
    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<VisitorMail>, StorageError>;
    /// The SMTP server took it: kept with its time, no longer sent.
    async fn sent(&self, id: &str) -> Result<(), StorageError>;
    /// Not sent, and not to be: `why` says so (withdrawn, sent one today, given up).
    async fn settle(&self, id: &str, why: &str) -> Result<(), StorageError>;
    /// Try again at `at_ms`, remembering why.
    async fn retry_at(&self, id: &str, at_ms: i64, error: &str) -> Result<(), StorageError>;
    /// When the last email of `kind` was sent to `person`, if ever.
    async fn last_sent(
        &self,
        person: &PersonKey,
        kind: MailKind,
    ) -> Result<Option<i64>, StorageError>;
    /// Removes the emails settled before `cutoff_ms` (retention). Returns how many.
    async fn forget_settled_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
}

/// Where the code that decides an email is due hands it over: written to the outbox, and
/// the sender woken. Cheap to clone; does nothing when no email goes to visitors.
#[derive(Clone, Default)]
pub struct Mailbag {
    inner: Option<(Arc<dyn MailOutbox>, Arc<tokio::sync::Notify>)>,
}

impl Mailbag {
    pub fn new(outbox: Arc<dyn MailOutbox>, wake: Arc<tokio::sync::Notify>) -> Self {
        Self {
            inner: Some((outbox, wake)),
        }
    }

    /// Queues `mail`. An email that could not be queued is logged and lost; what it was
    /// about (the signup, the confirmation) is stored either way.
    pub async fn post(&self, mail: VisitorMail) {
        let Some((outbox, wake)) = &self.inner else {
            return;
        };
        match outbox.add(&mail).await {
            Ok(()) => wake.notify_one(),
            Err(error) => {
                tracing::error!(%error, kind = mail.kind.as_str(), "could not queue an email to a visitor")
            }
        }
    }
}
