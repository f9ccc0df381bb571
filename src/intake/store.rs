//! Where the intake keeps what it accepts: each valid signup, durably, with its delivery
//! queued, and a count of the bots it turned away. Implemented for SQLite and PostgreSQL
//! in `storage`; the contract tests are `tests/storage/intake.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::consent::ConsentEvent;
use crate::consent::PersonKey;
use crate::domain::{
    EmailAddress, IdempotencyKey, NewSignup, PersonName, PhoneNumber, SourceTag, VisitorNote,
};
use crate::storage::{SignupDetails, StorageError, SubmissionId};

#[async_trait]
pub trait SubmissionStore: Send + Sync {
    /// Stores a valid signup and queues its delivery; durable once this returns. Under an
    /// idempotency key already taken, nothing is stored and [`resend_verdict`] says what
    /// the earlier submission is to this one.
    async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError>;

    /// Adds `count` submissions turned away as bots for `reason`, in one statement;
    /// nothing else of them is kept. See [`BotTally`].
    async fn add_bots(&self, reason: &'static str, count: u64) -> Result<(), StorageError>;

    /// Keeps a signup until its visitor confirms the address (`DOUBLE_OPT_IN=all`): not
    /// a submission yet, neither counted nor queued; its consents are stored with it.
    /// Under a key already held, nothing is added, and [`resend_verdict`] says what the
    /// held signup is to this one.
    async fn hold(
        &self,
        submission: NewSubmission,
        person: &PersonKey,
    ) -> Result<Inserted, StorageError>;

    /// The signups held for `person`, oldest first.
    async fn held(&self, person: &PersonKey) -> Result<Vec<HeldSignup>, StorageError>;

    /// Forgets a held signup, once stored as a submission.
    async fn release(&self, id: &SubmissionId) -> Result<(), StorageError>;

    /// Erases the signups held since before `cutoff_ms`, never confirmed. Returns how
    /// many.
    async fn forget_held_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
}

/// A signup held for confirmation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSignup {
    pub id: SubmissionId,
    pub received_at_ms: i64,
    pub source: Source,
    pub content: KeyedContent,
    pub consent_text: String,
    pub key: Option<IdempotencyKey>,
}

impl HeldSignup {
    /// The submission to store now that it is confirmed: its consent counts.
    pub fn confirmed(&self) -> Option<NewSubmission> {
        let content = &self.content;
        let details = SignupDetails::from_stored(content.details.clone());
        let typed = details.email_as_typed.as_deref().unwrap_or(&content.email);
        let name = |name: &Option<String>| name.as_deref().map(PersonName::parse).transpose();
        let signup = NewSignup {
            first_name: name(&content.first_name).ok()?,
            last_name: name(&content.last_name).ok()?,
            email: EmailAddress::parse(typed).ok()?,
            phone: content
                .phone
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .ok()?,
            birthday: details.birthday,
            address: details.address,
            note: details
                .note
                .as_deref()
                .map(VisitorNote::parse)
                .transpose()
                .ok()?,
            marketing_consent: content.marketing_consent,
            sms_consent: details.sms_consent,
        };
        Some(NewSubmission {
            signup,
            source: self.source,
            source_tag: details.source,
            consent_text: self.consent_text.clone(),
            key: self.key.clone(),
            consents: Vec::new(),
        })
    }
}

/// A valid signup on its way to the database.
#[derive(Clone)]
pub struct NewSubmission {
    pub signup: NewSignup,
    pub source: Source,
    /// Where the visitor came from, as the merchant named it: kept in `details`.
    pub source_tag: Option<SourceTag>,
    pub consent_text: String,
    pub key: Option<IdempotencyKey>,
    /// The consents given with it, for the ledger: stored in the same transaction, each
    /// naming the submission, so that no signup is kept without the proof of its consent.
    pub consents: Vec<ConsentEvent>,
}

/// What storing a submission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored and queued now.
    New(SubmissionId),
    /// The same submission (same idempotency key) was stored before: nothing was added.
    AlreadyStored(SubmissionId),
    /// The key names an earlier submission with other content: nothing was added. A
    /// served form admits one signup, so the form offers a fresh one instead; the JSON
    /// API stores the request on its own.
    KeyTaken(SubmissionId),
}

impl Inserted {
    /// The submission stored under the key: this one, or the earlier one it names.
    pub fn id(&self) -> &SubmissionId {
        match self {
            Inserted::New(id) | Inserted::AlreadyStored(id) | Inserted::KeyTaken(id) => id,
        }
    }
}

/// Where a submission came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Form,
    Api,
}

impl Source {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Form => "form",
            Source::Api => "api",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "api" {
            Source::Api
        } else {
            Source::Form
        }
    }
}

/// All the visitor entered, in the columns' form (`details` as its JSON column): what the
/// stores write, and what tells a resend from another signup under the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedContent {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub marketing_consent: bool,
    pub details: Option<String>,
}

impl KeyedContent {
    pub fn of(submission: &NewSubmission) -> Self {
        let signup = &submission.signup;
        fn text<T: AsRef<str>>(value: &Option<T>) -> Option<String> {
            value.as_ref().map(|v| v.as_ref().to_owned())
        }
        Self {
            first_name: text(&signup.first_name),
            last_name: text(&signup.last_name),
            email: signup.email.as_ref().to_owned(),
            phone: text(&signup.phone),
            marketing_consent: signup.marketing_consent,
            details: SignupDetails::of(signup, submission.source_tag.as_ref()).to_column(),
        }
    }
}

/// The idempotent-resend rule, for a submission whose key names an earlier one: the same
/// content is the same submission sent again (a double click, a retried request), and is
/// not stored again; other content under the key (a second signup from one served form,
/// or an API client's corrected resend) is not stored either, and the caller says what
/// becomes of it. Each store reads the earlier submission and stores the new one in one
/// transaction, so that the verdict still holds when it is acted on.
pub fn resend_verdict(
    earlier: SubmissionId,
    earlier_content: &KeyedContent,
    content: &KeyedContent,
) -> Inserted {
    if earlier_content == content {
        Inserted::AlreadyStored(earlier)
    } else {
        Inserted::KeyTaken(earlier)
    }
}

/// Stores `submission` with `store` (an insert, or a hold for its confirmation). Only a
/// served form is one signup: a reused API key with other content (a corrected resend,
/// or another client's key) is stored again on its own, without the key, as the API has
/// always done; a form's is answered by the caller.
pub(super) async fn store_api_resend_apart<Store, Storing>(
    submission: NewSubmission,
    store: Store,
) -> Result<Inserted, StorageError>
where
    Store: Fn(NewSubmission) -> Storing,
    Storing: Future<Output = Result<Inserted, StorageError>>,
{
    let apart =
        (submission.source == Source::Api && submission.key.is_some()).then(|| NewSubmission {
            key: None,
            ..submission.clone()
        });
    let inserted = store(submission).await?;
    match (&inserted, apart) {
        (Inserted::KeyTaken(_), Some(apart)) => store(apart).await,
        _ => Ok(inserted),
    }
}

/// Bots counted in memory, cheap to clone. Counting one must cost a flood nothing: a
/// write (an fsync with SQLite) per bot let 1,600 bot posts a second slow every visitor's
/// signup down. [`BotTally::flush`], run every few seconds and when the service stops,
/// writes them.
#[derive(Clone)]
pub struct BotTally {
    store: Arc<dyn SubmissionStore>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    /// Counted and not yet handed to a flush.
    unflushed: Mutex<BTreeMap<&'static str, u64>>,
    /// Held by a flush from taking the counts until they are written (or put back), and
    /// by [`BotTally::with_stored`] while it adds the stored counts to those in memory:
    /// so that no count is ever missing from, or twice in, what the admin sees.
    flushing: tokio::sync::Mutex<()>,
}

impl BotTally {
    pub fn new(store: Arc<dyn SubmissionStore>) -> Self {
        Self {
            store,
            counts: Arc::default(),
        }
    }

    fn unflushed(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // Plain counters: a panic elsewhere cannot leave them half-changed.
        self.counts
            .unflushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one submission turned away as a bot, in memory.
    pub fn count(&self, reason: &'static str) {
        *self.unflushed().entry(reason).or_default() += 1;
    }

    /// Writes the bots counted since the last flush, one statement per reason. What
    /// could not be written is kept for the next flush. Run it to the end: dropped while
    /// it writes, it would lose the counts it had taken.
    pub async fn flush(&self) -> Result<(), StorageError> {
        let _flushing = self.counts.flushing.lock().await;
        let mut counts = std::mem::take(&mut *self.unflushed());
        let mut result = Ok(());
        while let Some((reason, count)) = counts.pop_first() {
            if let Err(error) = self.store.add_bots(reason, count).await {
                counts.insert(reason, count);
                result = Err(error);
                break;
            }
        }
        let mut unflushed = self.unflushed();
        for (reason, count) in counts {
            *unflushed.entry(reason).or_default() += count;
        }
        result
    }

    /// Bots turned away, by reason: those `stored` (read while no flush runs), with those
    /// this instance has counted and not written yet.
    pub async fn with_stored<F>(&self, stored: F) -> Result<BTreeMap<String, u64>, StorageError>
    where
        F: Future<Output = Result<BTreeMap<String, u64>, StorageError>>,
    {
        let _flushing = self.counts.flushing.lock().await;
        let mut counts = stored.await?;
        for (reason, count) in self.unflushed().iter() {
            *counts.entry((*reason).to_owned()).or_default() += count;
        }
        Ok(counts)
    }
}
