//! Group commit for new submissions. Every signup is answered only after its row is
//! durable (WAL, `synchronous=FULL`), and what makes that slow is the fsync of each
//! commit, not the rows. One writer thread therefore takes every submission waiting
//! when it is free and commits them together: one fsync for a whole burst. A quiet
//! form is committed one by one, exactly as before.
//!
//! Each submission gets its own savepoint, so one that fails (a constraint, say) is
//! answered with its error while the others in its batch are stored.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::submissions::insert_one;
use crate::intake::store::{Inserted, NewSubmission};
use crate::storage::StorageError;

/// The most submissions in one commit: bounds the time the connection is held.
const MAX_BATCH: usize = 256;

struct Job {
    submission: NewSubmission,
    reply: oneshot::Sender<Result<Inserted, StorageError>>,
}

/// The way to the writer thread; cheap to clone. The thread ends when the last clone is
/// dropped.
#[derive(Clone)]
pub(super) struct SubmissionWriter {
    jobs: Sender<Job>,
}

impl SubmissionWriter {
    pub fn start(connection: Arc<Mutex<Connection>>) -> Result<Self, StorageError> {
        let (jobs, queue) = channel();
        std::thread::Builder::new()
            .name("submission-writer".into())
            .spawn(move || write_batches(&connection, &queue))
            .map_err(|_| StorageError::TaskFailed)?;
        Ok(Self { jobs })
    }

    /// Stores one submission; returns once it is durable.
    pub async fn insert(&self, submission: NewSubmission) -> Result<Inserted, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { submission, reply })
            .map_err(|_| StorageError::TaskFailed)?;
        answer.await.map_err(|_| StorageError::TaskFailed)?
    }
}

fn write_batches(connection: &Mutex<Connection>, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (submissions, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|job| (job.submission, job.reply))
            .unzip();
        let results = {
            // A panic while holding the lock leaves SQLite consistent (the open
            // transaction rolls back), so a poisoned lock is safe to reuse.
            let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
            catch_unwind(AssertUnwindSafe(|| {
                commit_batch(&mut connection, &submissions)
            }))
            .unwrap_or_else(|_| {
                tracing::error!("storing a batch of submissions panicked");
                submissions
                    .iter()
                    .map(|_| Err(StorageError::TaskFailed))
                    .collect()
            })
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The visitor may have gone; their submission is stored all the same.
            let _ = reply.send(result);
        }
    }
}

/// Stores a batch in one transaction. The results are in the batch's order; nothing is
/// reported stored unless the commit succeeded.
fn commit_batch(
    connection: &mut Connection,
    batch: &[NewSubmission],
) -> Vec<Result<Inserted, StorageError>> {
    let mut attempt = || -> rusqlite::Result<Vec<rusqlite::Result<Inserted>>> {
        // IMMEDIATE: the write lock is taken (waiting out the busy timeout) before the
        // first read, so another program writing in between cannot fail the batch.
        let mut tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for submission in batch {
            let result = {
                let savepoint = tx.savepoint()?;
                let result = insert_one(&savepoint, submission);
                if result.is_ok() {
                    savepoint.commit()?;
                }
                // Otherwise dropping the savepoint rolls this one submission back.
                result
            };
            results.push(result);
            if tx.is_autocommit() {
                // Some errors (a full disk, an I/O error) end the whole transaction. Going
                // on would store the rest outside it, one by one, then report the batch
                // failed: stop, and report every submission of the batch not stored.
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the transaction ended on an error".into()),
                ));
            }
        }
        tx.commit()?;
        Ok(results)
    };
    match attempt() {
        Ok(results) => results
            .into_iter()
            .map(|r| r.map_err(StorageError::from))
            .collect(),
        Err(error) => {
            let message = error.to_string();
            batch
                .iter()
                .map(|_| Err(StorageError::Commit(message.clone())))
                .collect()
        }
    }
}
