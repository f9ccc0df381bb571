use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Queue;
use super::lease::{heartbeat_interval, send_writes_by};
use super::{Backoff, Plan, plan_delivery};
use super::{DeliveryOutcome, QueuedDelivery};
use crate::clover::{AuthState, CloverError, CustomerDirectory};
use crate::configuration::DeliverySettings;
use crate::domain::DuplicatePolicy;
use crate::storage::{StorageError, SubmissionId, now_ms};
use crate::tasks::{retry, spawn_periodic};

/// Submissions delivered at once. Each is a short sequence of requests; the client's pacer
/// keeps the total within Clover's 5 in flight.
const CONCURRENT_DELIVERIES: usize = 4;
/// The longest the worker sleeps without looking at the queue.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Waits between tries at writing a delivery's result.
const RESULT_WRITE_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
];
/// The shortest wait between looks at the queue when the last look claimed nothing.
const MIN_POLL: Duration = Duration::from_millis(250);
/// Pause after the database failed to answer the worker.
const STORAGE_RETRY: Duration = Duration::from_secs(1);
/// After a stop is asked for, how long deliveries under way may take to finish. Anything
/// cut off is handed over, and searched for before it is created again.
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

/// A submission's place in the set of deliveries under way, given up when dropped, a
/// panic included.
struct UnderWay {
    worker: Arc<DeliveryWorker>,
    id: SubmissionId,
}

impl UnderWay {
    /// `None` when the submission is already under way here.
    fn start(worker: &Arc<DeliveryWorker>, id: &SubmissionId) -> Option<Self> {
        let mut under_way = worker.under_way.lock().expect("under-way lock");
        under_way.insert(id.clone()).then(|| Self {
            worker: Arc::clone(worker),
            id: id.clone(),
        })
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        let mut under_way = self
            .worker
            .under_way
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        under_way.remove(&self.id);
    }
}

/// How an attempt ended, short of an error from Clover.
enum Attempted {
    /// The customer in Clover, and how it came to be.
    Delivered(String, DeliveryOutcome),
    /// The claim ran out (or could not be checked) before anything was written to Clover:
    /// the submission is left to whichever instance holds it now.
    ClaimLost,
}

/// When a refused credential is next tested; `None` while Clover accepts it.
#[derive(Default)]
struct AuthGate {
    next_check: Option<Instant>,
}

pub struct DeliveryWorker {
    queue: Arc<dyn Queue>,
    directory: CustomerDirectory,
    policy: DuplicatePolicy,
    backoff: Backoff,
    auth_recheck: Duration,
    /// How long a claim lasts unless renewed (every third of it).
    lease: Duration,
    /// Clover's request timeout (`CLOVER_TIMEOUT_SECONDS`).
    request_timeout: Duration,
    /// Instances alive at the last heartbeat, this one included.
    instances: AtomicUsize,
    /// Submissions this instance has claimed and is delivering.
    under_way: Mutex<HashSet<SubmissionId>>,
    handle: DeliveryHandle,
}

impl DeliveryWorker {
    pub fn new(
        queue: Arc<dyn Queue>,
        directory: CustomerDirectory,
        settings: &DeliverySettings,
        request_timeout: Duration,
        handle: DeliveryHandle,
    ) -> Self {
        Self {
            queue,
            directory,
            policy: settings.duplicate_policy,
            backoff: Backoff {
                base: settings.backoff_base,
                max: settings.backoff_max,
            },
            auth_recheck: settings.auth_recheck,
            lease: settings.lease,
            request_timeout,
            instances: AtomicUsize::new(1),
            under_way: Mutex::new(HashSet::new()),
            handle,
        }
    }

    /// Delivers until `stop` turns true, then lets deliveries under way finish.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StorageError> {
        let worker = Arc::new(self);
        let beat_every = heartbeat_interval(worker.lease);
        if worker.beat().await > 1 {
            // The instances already running slow down to their new share at their next
            // heartbeat, a little after which Clover's budget is no longer all theirs.
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(beat_every + beat_every / 4) => {}
            }
        }
        // Claims are renewed by a task of their own, which waits on nothing else: a worker
        // loop waiting on the database must not let the claims of deliveries under way
        // run out. The stored credential is watched by another, as reading it may wait
        // for another instance's refresh.
        let heartbeat = spawn_periodic("delivery claims", beat_every, {
            let worker = Arc::clone(&worker);
            move || {
                let worker = Arc::clone(&worker);
                async move {
                    worker.beat().await;
                }
            }
        });
        let credential = spawn_periodic("stored credential", beat_every, {
            let directory = worker.directory.clone();
            move || {
                let directory = directory.clone();
                async move { directory.reload_credential().await }
            }
        });
        let mut running = JoinSet::new();
        let mut gate = AuthGate::default();
        while !*stop.borrow() {
            let capacity = worker.capacity(running.len(), &mut gate);
            let claimed = match worker.claim(capacity).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    // Submissions stay safely queued; try again shortly.
                    tracing::error!(%error, "could not read the delivery queue");
                    tokio::time::sleep(STORAGE_RETRY).await;
                    continue;
                }
            };
            let claimed_any = !claimed.is_empty();
            for delivery in claimed {
                // A claim of this instance's that ran out while its delivery went on (a
                // heartbeat that failed) can come back to it: that delivery carries on.
                let Some(under_way) = UnderWay::start(&worker, &delivery.id) else {
                    continue;
                };
                let worker = Arc::clone(&worker);
                running.spawn(async move {
                    worker.deliver(delivery).await;
                    drop(under_way);
                });
            }
            let mut wait = worker.idle_wait(capacity, running.len(), &gate).await;
            if !claimed_any {
                // Something due may be waiting on another delivery of the same email,
                // here or on another instance: look again soon, not in a tight loop.
                wait = wait.max(MIN_POLL);
            }
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
        // Deliveries cut off keep their claims until the lease runs out: a request of
        // theirs may still reach Clover, and whoever takes over must find its customer.
        let cut_off = worker.under_way_now();
        if finished.is_err() {
            tracing::warn!("deliveries still under way at shutdown are left to other instances");
            running.abort_all();
        }
        heartbeat.abort();
        credential.abort();
        if let Err(error) = worker.queue.leave(&cut_off).await {
            tracing::error!(%error, "could not hand over this instance's deliveries");
        }
        Ok(())
    }

    /// Renews the claims of the deliveries under way and this instance's presence, and
    /// keeps to its share of Clover's budget among the instances alive. Returns how many
    /// there are.
    async fn beat(&self) -> usize {
        match self
            .queue
            .heartbeat(self.lease, &self.under_way_now())
            .await
        {
            Ok(instances) => {
                let previous = self.instances.swap(instances, Ordering::SeqCst);
                if previous != instances {
                    tracing::info!(instances, "instances sharing Clover's request budget");
                }
                // Every beat, not only on a change: a share of the requests in flight
                // can only be taken back as they finish.
                self.directory.share_budget(instances);
                instances
            }
            Err(error) => {
                // Claims not renewed may run out and be taken over; before it writes to
                // Clover, each delivery checks its claim still has time to run.
                tracing::error!(%error, "could not renew this instance's delivery claims");
                self.instances.load(Ordering::SeqCst)
            }
        }
    }

    /// Claims up to `capacity` due submissions; with no room, asks the queue nothing.
    async fn claim(&self, capacity: usize) -> Result<Vec<QueuedDelivery>, StorageError> {
        if capacity == 0 {
            return Ok(Vec::new());
        }
        self.queue.claim_due(capacity, self.lease).await
    }

    fn under_way_now(&self) -> Vec<SubmissionId> {
        let under_way = self.under_way.lock().expect("under-way lock");
        under_way.iter().cloned().collect()
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
        match self.queue.next_due_at_ms().await {
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
        if let Ok(Attempted::ClaimLost) = attempt {
            tracing::warn!(submission = %id, "the claim on this submission was running out before it was written to Clover; it is left for later or to the instance holding it");
            // A no-op unless this instance still holds it (the database could not say, or
            // the claim was too short): then it waits like any attempt that did not land.
            let next = now_ms() + self.backoff.delay(delivery.attempts).as_millis() as i64;
            if let Err(error) = self.queue.reschedule(&id, next, "claim running out").await {
                tracing::error!(submission = %id, %error, "could not reschedule a delivery");
            }
        } else {
            // If it never lands, the submission is still claimed; the first heartbeat
            // after this delivery ends releases the claim, and it is due again.
            let _ = retry(
                &RESULT_WRITE_RETRIES,
                || async {
                    match &attempt {
                        Ok(Attempted::Delivered(customer_id, outcome)) => {
                            self.queue.mark_delivered(&id, customer_id, *outcome).await
                        }
                        Ok(Attempted::ClaimLost) => Ok(()),
                        Err(error) => self.record_failure(&delivery, error).await,
                    }
                },
                |error| tracing::error!(submission = %id, %error, "could not record a delivery result"),
            )
            .await;
        }
        if let Ok(Attempted::Delivered(customer_id, outcome)) = &attempt {
            tracing::info!(submission = %id, outcome = outcome.as_str(), clover_customer_id = %customer_id, "delivered");
            self.directory.delivery_succeeded();
        }
    }

    /// One delivery: search by email, then carry out the plan. The search always comes
    /// first, so a create whose answer was lost is found instead of repeated.
    async fn attempt(&self, delivery: &QueuedDelivery) -> Result<Attempted, CloverError> {
        let found = self
            .directory
            .find_by_email(delivery.email_as_typed())
            .await?;
        let plan = plan_delivery(delivery, &found, self.policy);
        let outcome = plan.outcome();
        let customer_id = match plan {
            Plan::Adopt { customer_id }
            | Plan::Link {
                customer_id,
                add_note: None,
            } => customer_id,
            writes => {
                let Some(send_by) = self.write_deadline(delivery).await else {
                    return Ok(Attempted::ClaimLost);
                };
                self.carry_out(writes, send_by).await?
            }
        };
        Ok(Attempted::Delivered(customer_id, outcome))
    }

    /// The plan's writes to Clover, none sent after `send_by`; the customer's id.
    async fn carry_out(&self, plan: Plan, send_by: Instant) -> Result<String, CloverError> {
        let customer_id = match plan {
            Plan::Adopt { customer_id } => customer_id,
            Plan::Link {
                customer_id,
                add_note,
            } => {
                if let Some(note) = add_note {
                    self.add_consent_note(&customer_id, &note, send_by)
                        .await
                        .map_err(deleted_meanwhile)?;
                }
                customer_id
            }
            Plan::Complete {
                customer_id,
                add_phone,
                first_name,
                last_name,
                add_note,
            } => {
                let completed = async {
                    if let Some(phone) = add_phone {
                        self.directory
                            .add_phone(&customer_id, &phone, send_by)
                            .await?;
                    }
                    if first_name.is_some() || last_name.is_some() {
                        self.directory
                            .set_names(
                                &customer_id,
                                first_name.as_deref(),
                                last_name.as_deref(),
                                send_by,
                            )
                            .await?;
                    }
                    if let Some(note) = add_note {
                        self.add_consent_note(&customer_id, &note, send_by).await?;
                    }
                    Ok(())
                };
                completed.await.map_err(deleted_meanwhile)?;
                customer_id
            }
            Plan::Create(draft) => self.directory.create(&draft, send_by).await?,
        };
        Ok(customer_id)
    }

    /// Writes the consent line into an existing customer's empty note. The consent is in
    /// this service's own record anyway, so a refusal that retrying cannot mend (Clover's
    /// metadata endpoint is little documented) is logged and the delivery goes on; a
    /// missing permission, a deleted customer or an outage still stop it.
    async fn add_consent_note(
        &self,
        customer_id: &str,
        note: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        match self.directory.add_note(customer_id, note, send_by).await {
            Err(CloverError::Rejected { status, message }) if status != 404 => {
                tracing::warn!(status, %message, clover_customer_id = %customer_id, "Clover refused the consent note; the consent stays in this service's record");
                Ok(())
            }
            other => other,
        }
    }

    /// Until when this instance may send the delivery's writes to Clover (see
    /// [`send_writes_by`]). `None` when the claim is gone or too short, or the database
    /// cannot say: the delivery is then left to whoever holds the submission, or to the
    /// next attempt, which searches first.
    async fn write_deadline(&self, delivery: &QueuedDelivery) -> Option<Instant> {
        match self.queue.claim_left(&delivery.id).await {
            Ok(Some(left)) => send_writes_by(left, self.request_timeout),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(submission = %delivery.id, %error, "could not check a delivery's claim");
                None
            }
        }
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
                self.queue.mark_failed(id, &error.to_string()).await
            }
            CloverError::Unauthorized => {
                tracing::warn!(submission = %id, "delivery paused: Clover refused the credential");
                self.queue
                    .reschedule(id, now_ms(), &error.to_string())
                    .await
            }
            CloverError::MissingPermission(missing) => {
                // A setup problem, not this signup's: it waits, due, for the permission.
                tracing::warn!(submission = %id, permission = missing.code(), "delivery parked on a missing permission");
                self.queue
                    .reschedule(id, now_ms(), missing.explanation())
                    .await
            }
            CloverError::Unavailable { retry_after, .. } => {
                let wait = self
                    .backoff
                    .delay(delivery.attempts)
                    .max(retry_after.unwrap_or_default());
                tracing::warn!(submission = %id, attempt = delivery.attempts, retry_in_ms = wait.as_millis() as u64, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.queue.reschedule(id, next, &error.to_string()).await
            }
            CloverError::UnexpectedResponse(_) | CloverError::Storage(_) => {
                let wait = self.backoff.delay(delivery.attempts);
                tracing::error!(submission = %id, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.queue.reschedule(id, next, &error.to_string()).await
            }
        }
    }
}

/// A customer found by the search and gone before it could be written to: the next
/// attempt searches again.
fn deleted_meanwhile(error: CloverError) -> CloverError {
    match error {
        CloverError::Rejected { status: 404, .. } => {
            CloverError::unavailable("the customer found was deleted before it could be written to")
        }
        other => other,
    }
}
