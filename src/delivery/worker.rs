use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Backoff, Plan, plan_delivery};
use crate::clover::{AuthState, CloverError, CustomerDirectory};
use crate::configuration::DeliverySettings;
use crate::domain::DuplicatePolicy;
use crate::storage::{Database, DeliveryOutcome, QueuedDelivery, StorageError, now_ms};

/// Submissions delivered at once. Each is a short sequence of requests; the client's pacer
/// keeps the total within Clover's 5 in flight.
const CONCURRENT_DELIVERIES: usize = 4;
/// The longest the worker sleeps without looking at the queue.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Waits before each new try at writing a delivery's result.
const RESULT_WRITE_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
];
/// Pause after the database failed to answer the worker.
const STORAGE_RETRY: Duration = Duration::from_secs(1);
/// After a stop is asked for, how long deliveries under way may take to finish. Anything
/// cut off stays in flight and is resumed, searched before re-created, at the next start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Wakes the worker from outside: a new submission, or the merchant asking for a retry.
#[derive(Clone, Default)]
pub struct DeliveryHandle {
    wake: Arc<Notify>,
    recheck_auth: Arc<AtomicBool>,
}

impl DeliveryHandle {
    /// Something is due now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The merchant asked to try again: also test a refused credential straight away.
    pub fn retry_now(&self) {
        self.recheck_auth.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// When a refused credential is next tested; `None` while Clover accepts it.
#[derive(Default)]
struct AuthGate {
    next_check: Option<Instant>,
}

pub struct DeliveryWorker {
    db: Database,
    directory: CustomerDirectory,
    policy: DuplicatePolicy,
    backoff: Backoff,
    auth_recheck: Duration,
    handle: DeliveryHandle,
}

impl DeliveryWorker {
    pub fn new(
        db: Database,
        directory: CustomerDirectory,
        settings: &DeliverySettings,
        handle: DeliveryHandle,
    ) -> Self {
        Self {
            db,
            directory,
            policy: settings.duplicate_policy,
            backoff: Backoff {
                base: settings.backoff_base,
                max: settings.backoff_max,
            },
            auth_recheck: settings.auth_recheck,
            handle,
        }
    }

    /// Delivers until `stop` turns true, then lets deliveries under way finish.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StorageError> {
        let resumed = self.db.resume_in_flight().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resuming deliveries interrupted by the last stop");
        }
        let worker = Arc::new(self);
        let mut running = JoinSet::new();
        let mut gate = AuthGate::default();
        while !*stop.borrow() {
            if running.is_empty() {
                // Nothing is under way, so any row still marked in flight lost its task
                // (a result that could not be written): make it due again.
                if let Err(error) = worker.db.resume_in_flight().await {
                    tracing::error!(%error, "could not release orphaned deliveries");
                }
            }
            let capacity = worker.capacity(running.len(), &mut gate);
            let claimed = match worker.db.claim_due(capacity).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    // Submissions stay safely queued; try again shortly.
                    tracing::error!(%error, "could not read the delivery queue");
                    tokio::time::sleep(STORAGE_RETRY).await;
                    continue;
                }
            };
            for delivery in claimed {
                let worker = Arc::clone(&worker);
                running.spawn(async move { worker.deliver(delivery).await });
            }
            let wait = worker.idle_wait(capacity, running.len(), &gate).await;
            tokio::select! {
                _ = stop.changed() => {}
                _ = worker.handle.wake.notified() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!("deliveries still under way at shutdown will resume at next start");
        }
        Ok(())
    }

    /// How many more submissions to claim now. While Clover refuses the credential, the
    /// deliveries under way finish first; then one delivery every `auth_recheck` (or at
    /// once, when the merchant asks or reconnects) tests whether it works again, and the
    /// rest wait.
    fn capacity(&self, running: usize, gate: &mut AuthGate) -> usize {
        let state = self.directory.auth().state;
        if state == AuthState::Ok {
            gate.next_check = None;
            return CONCURRENT_DELIVERIES.saturating_sub(running);
        }
        let now = Instant::now();
        let next_check = *gate.next_check.get_or_insert(now + self.auth_recheck);
        if running > 0 {
            return 0;
        }
        let asked = self.handle.recheck_auth.swap(false, Ordering::SeqCst);
        // A connection that needs the merchant cannot mend itself: wait for a reconnect.
        let timed = state == AuthState::Failing && now >= next_check;
        if asked || timed {
            gate.next_check = Some(now + self.auth_recheck);
            return 1;
        }
        0
    }

    /// How long to sleep when nothing wakes the worker sooner (a finishing delivery, a new
    /// submission and a stop all do).
    async fn idle_wait(&self, capacity: usize, running: usize, gate: &AuthGate) -> Duration {
        if running > 0 && capacity == 0 {
            return IDLE_POLL;
        }
        if let Some(next_check) = gate.next_check {
            return next_check.saturating_duration_since(Instant::now());
        }
        if capacity == 0 {
            return IDLE_POLL;
        }
        match self.db.next_due_at_ms().await {
            Ok(Some(due)) => {
                Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64).min(IDLE_POLL)
            }
            _ => IDLE_POLL,
        }
    }

    async fn deliver(&self, delivery: QueuedDelivery) {
        let id = delivery.id.clone();
        // A panic in one delivery must not strand its row or stop the worker.
        let attempt = AssertUnwindSafe(self.attempt(&delivery))
            .catch_unwind()
            .await;
        let attempt = attempt.unwrap_or_else(|_| {
            Err(CloverError::UnexpectedResponse(
                "the delivery stopped unexpectedly".to_owned(),
            ))
        });
        for wait in RESULT_WRITE_RETRIES {
            let written = match &attempt {
                Ok((customer_id, outcome)) => {
                    self.db.mark_delivered(&id, customer_id, *outcome).await
                }
                Err(error) => self.record_failure(&delivery, error).await,
            };
            match written {
                Ok(()) => break,
                Err(error) => {
                    // Left in flight, the row is released once the worker is idle.
                    tracing::error!(submission = %id, %error, "could not record a delivery result");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        if let Ok((customer_id, outcome)) = &attempt {
            tracing::info!(submission = %id, outcome = outcome.as_str(), clover_customer_id = %customer_id, "delivered");
            self.directory.delivery_succeeded();
        }
    }

    /// One delivery: search by email, then carry out the plan. The search always comes
    /// first, so a create whose answer was lost is found instead of repeated.
    async fn attempt(
        &self,
        delivery: &QueuedDelivery,
    ) -> Result<(String, DeliveryOutcome), CloverError> {
        let found = self.directory.find_by_email(&delivery.email).await?;
        let plan = plan_delivery(delivery, &found, self.policy);
        let outcome = plan.outcome();
        let customer_id = match plan {
            Plan::Adopt { customer_id } | Plan::Link { customer_id } => customer_id,
            Plan::Complete {
                customer_id,
                add_phone,
                first_name,
                last_name,
            } => {
                let completed = async {
                    if let Some(phone) = add_phone {
                        self.directory.add_phone(&customer_id, &phone).await?;
                    }
                    if first_name.is_some() || last_name.is_some() {
                        self.directory
                            .set_names(&customer_id, first_name.as_deref(), last_name.as_deref())
                            .await?;
                    }
                    Ok(())
                };
                completed.await.map_err(|error| match error {
                    // Deleted since the search: the next attempt searches again.
                    CloverError::Rejected { status: 404, .. } => CloverError::unavailable(
                        "the customer found was deleted before it could be completed",
                    ),
                    other => other,
                })?;
                customer_id
            }
            Plan::Create(draft) => self.directory.create(&draft).await?,
        };
        Ok((customer_id, outcome))
    }

    async fn record_failure(
        &self,
        delivery: &QueuedDelivery,
        error: &CloverError,
    ) -> Result<(), StorageError> {
        let id = &delivery.id;
        match error {
            CloverError::Rejected { status, .. } => {
                tracing::error!(submission = %id, status, "Clover rejected the customer; not retrying");
                self.db.mark_failed(id, &error.to_string()).await
            }
            CloverError::Unauthorized => {
                tracing::warn!(submission = %id, "delivery paused: Clover refused the credential");
                self.db.reschedule(id, now_ms(), &error.to_string()).await
            }
            CloverError::Unavailable { retry_after, .. } => {
                let wait = self
                    .backoff
                    .delay(delivery.attempts)
                    .max(retry_after.unwrap_or_default());
                tracing::warn!(submission = %id, attempt = delivery.attempts, retry_in_ms = wait.as_millis() as u64, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.db.reschedule(id, next, &error.to_string()).await
            }
            CloverError::UnexpectedResponse(_) | CloverError::Storage(_) => {
                let wait = self.backoff.delay(delivery.attempts);
                tracing::error!(submission = %id, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.db.reschedule(id, next, &error.to_string()).await
            }
        }
    }
}
