//! Group commit for new submissions, the twin of `sqlite/writer.rs`. Every signup is
//! answered only after its commit, and what a commit costs the server (a round trip, a
//! transaction, a flush of the write-ahead log) is much of what storing a signup costs.
//! A few writer tasks therefore each take every submission waiting when they are free
//! and store them in one statement: one commit for a whole burst. A quiet form is
//! stored one by one, with the same statement as before.
//!
//! A batch that the server refuses as a whole may have been refused for one of its
//! signups (a value the server will not store, say): its signups are then stored one by
//! one, so that each gets its own answer. A batch refused because the database does not
//! answer, or not in time, is answered with that error for each of its signups, as each
//! would have been on its own; trying them one by one would make each wait out the same
//! timeout in turn.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use deadpool_postgres::{Client, Pool};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::consent::{GivenColumns, consent_clauses};
use super::submissions::{insert, neither_stored_nor_found, try_insert};
use crate::intake::store::{Inserted, KeyedContent, NewSubmission};
use crate::storage::{StorageError, SubmissionId, now_ms};

/// Writers, each committing one batch at a time on a pooled connection of its own: while
/// one waits for its commit, the next takes what arrived meanwhile. With 16 visitors
/// posting at once, four kept the commits coming more steadily than one or two (whose
/// visitors wait out a whole commit more often) and as well as eight, on 2 CPUs.
const WRITERS: usize = 4;
/// The most submissions in one statement: bounds its parameters and the time it runs.
const MAX_BATCH: usize = 256;

struct Job {
    submission: NewSubmission,
    reply: oneshot::Sender<Result<Inserted, StorageError>>,
}

/// The way to the writers. They stop when it is dropped.
pub(super) struct SubmissionWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl SubmissionWriter {
    /// Starts the writers on the current Tokio runtime.
    pub fn start(pool: &Pool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), Arc::clone(&queue)));
        }
        Self { jobs }
    }

    /// Stores one submission; returns once it is committed.
    pub async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { submission, reply })
            .map_err(|_| StorageError::TaskFailed)?;
        answer.await.map_err(|_| StorageError::TaskFailed)?
    }
}

async fn write_batches(pool: Pool, queue: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let batch = {
            // Held while waiting for the first job: the other writers wait behind, and
            // the next of them takes what arrives once this one has its batch.
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let (submissions, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|job| (job.submission, job.reply))
            .unzip();
        let count = submissions.len();
        // A task of its own, so that a panic fails this batch and not the writer.
        let pool = pool.clone();
        let results = tokio::spawn(async move { commit(&pool, &submissions).await })
            .await
            .unwrap_or_else(|_| {
                tracing::error!("storing a batch of submissions panicked");
                (0..count).map(|_| Err(StorageError::TaskFailed)).collect()
            });
        for (reply, result) in replies.into_iter().zip(results) {
            // The visitor may have gone; their submission is stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// Stores a batch; the results are in the batch's order, and none is `New` unless its
/// row was committed.
async fn commit(pool: &Pool, batch: &[NewSubmission]) -> Vec<Result<Inserted, StorageError>> {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return each(batch.len(), &error.into()),
    };
    if let [submission] = batch {
        return vec![insert(&client, submission).await];
    }
    let ids: Vec<SubmissionId> = batch.iter().map(|_| SubmissionId::random()).collect();
    match store_all(&client, batch, &ids).await {
        Ok(stored) => {
            let mut results = Vec::with_capacity(batch.len());
            for (submission, id) in batch.iter().zip(ids) {
                results.push(if stored.contains(&id.0) {
                    Ok(Inserted::New(id))
                } else {
                    // Its key was taken, by a submission before this batch or earlier
                    // in it: the row under the key, now committed, decides.
                    insert(&client, submission).await
                });
            }
            results
        }
        Err(error) if may_be_a_signups(&error) => one_by_one(&client, batch).await,
        Err(error) => each(batch.len(), &error.into()),
    }
}

/// Stores the batch, queues each new submission and adds the consents given with them in
/// one statement (so one transaction), under the ids given; returns the ids stored. A
/// submission whose key was already taken is not stored, nor are its consents.
static STORE_ALL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH stored AS (
            INSERT INTO submissions (id, received_at, source, first_name, last_name, email,
                phone, marketing_consent, consent_text, idempotency_key, details)
            SELECT id, $2, source, first_name, last_name, email,
                phone, marketing_consent, consent_text, idempotency_key, details
            FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::boolean[], $9::text[], $10::text[], $11::text[])
                WITH ORDINALITY AS batch (id, source, first_name, last_name, email,
                    phone, marketing_consent, consent_text, idempotency_key, details, position)
            -- Arrival order, which the submissions' sequence numbers keep.
            ORDER BY position
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, received_at),
        queued AS (
            INSERT INTO delivery_queue (submission_id, next_attempt_at)
            SELECT id, received_at FROM stored
            RETURNING submission_id),
        {}
        SELECT submission_id FROM queued",
        consent_clauses(12, true)
    )
});

async fn store_all(
    client: &Client,
    batch: &[NewSubmission],
    ids: &[SubmissionId],
) -> Result<HashSet<String>, tokio_postgres::Error> {
    let mut columns = Columns::with_capacity(batch.len());
    for submission in batch {
        columns.push(submission);
    }
    let consents = GivenColumns::of_batch(batch.iter().zip(ids.iter().map(|id| id.0.as_str())));
    let ids: Vec<&str> = ids.iter().map(|id| id.0.as_str()).collect();
    let statement = client.prepare_cached(&STORE_ALL).await?;
    let now = now_ms();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
        &ids,
        &now,
        &columns.source,
        &columns.first_name,
        &columns.last_name,
        &columns.email,
        &columns.phone,
        &columns.marketing_consent,
        &columns.consent_text,
        &columns.key,
        &columns.details,
    ];
    params.extend(consents.params());
    let rows = client.query(&statement, &params).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A batch's values, one array per column.
struct Columns<'a> {
    source: Vec<&'static str>,
    first_name: Vec<Option<String>>,
    last_name: Vec<Option<String>>,
    email: Vec<String>,
    phone: Vec<Option<String>>,
    marketing_consent: Vec<bool>,
    consent_text: Vec<&'a str>,
    key: Vec<Option<&'a str>>,
    details: Vec<Option<String>>,
}

impl<'a> Columns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            source: Vec::with_capacity(n),
            first_name: Vec::with_capacity(n),
            last_name: Vec::with_capacity(n),
            email: Vec::with_capacity(n),
            phone: Vec::with_capacity(n),
            marketing_consent: Vec::with_capacity(n),
            consent_text: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
            details: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, submission: &'a NewSubmission) {
        let content = KeyedContent::of(submission);
        self.source.push(submission.source.as_str());
        self.first_name.push(content.first_name);
        self.last_name.push(content.last_name);
        self.email.push(content.email);
        self.phone.push(content.phone);
        self.marketing_consent.push(content.marketing_consent);
        self.consent_text.push(&submission.consent_text);
        self.key.push(submission.key.as_ref().map(AsRef::as_ref));
        self.details.push(content.details);
    }
}

/// Each submission of a batch the server refused, on its own. Once one is refused for
/// a reason that is not its own, the rest are answered with that error untried.
async fn one_by_one(
    client: &Client,
    batch: &[NewSubmission],
) -> Vec<Result<Inserted, StorageError>> {
    let mut results = Vec::with_capacity(batch.len());
    for submission in batch {
        let result = match try_insert(client, submission).await {
            Ok(inserted) => inserted.ok_or_else(neither_stored_nor_found),
            Err(error) if may_be_a_signups(&error) => Err(error.into()),
            Err(error) => {
                let error = StorageError::from(error);
                let untried = batch.len() - results.len();
                results.extend(each(untried, &error));
                return results;
            }
        };
        results.push(result);
    }
    results
}

/// Whether the server may have refused a batch for one of its signups (a value it will
/// not store, a constraint), rather than for its own state: unreachable (no answer at
/// all), short of resources, out of time for a lock or the statement, shutting down
/// (SQLSTATE classes 08, 53, 55, 57 and 58). Those would refuse each signup alike.
fn may_be_a_signups(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        !matches!(
            db.code().code().get(..2),
            Some("08" | "53" | "55" | "57" | "58")
        )
    })
}

/// The same error for `count` submissions.
fn each(count: usize, error: &StorageError) -> Vec<Result<Inserted, StorageError>> {
    let copy = || match error {
        StorageError::Connection(message) => StorageError::Connection(message.clone()),
        StorageError::Postgres(message) => StorageError::Postgres(message.clone()),
        other => StorageError::Postgres(other.to_string()),
    };
    (0..count).map(|_| Err(copy())).collect()
}
