//! `DeliveryWorker`: claims due submissions and delivers them, a few at a time, while
//! Clover accepts the credential. `claims.rs` holds the claims (taking them, the
//! heartbeat that renews them, the time left on one); `attempt.rs` one delivery, from the
//! search to the last write; `results.rs` what is written back to the queue.

mod attempt;
mod claims;
mod outage;
mod results;
mod turn;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::claims::UnderWay;
use self::outage::Outage;
use self::turn::TURN_RENEWAL;
use super::Backoff;
use super::Queue;
use super::lease::heartbeat_interval;
use crate::clover::{AuthState, CustomerDirectory};
use crate::configuration::DeliverySettings;
use crate::domain::DuplicatePolicy;
use crate::events::Events;
use crate::metrics::DeliveryMetrics;
use crate::storage::{StorageError, SubmissionId, now_ms};
use crate::tasks::{Periodic, spawn_periodic};

/// Submissions delivered at once. Each is a short sequence of requests; the client's pacer
/// keeps the total within Clover's 5 in flight.
const CONCURRENT_DELIVERIES: usize = 4;
/// The longest the worker sleeps without looking at the queue.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// The shortest wait between looks at the queue when the last look claimed nothing.
const MIN_POLL: Duration = Duration::from_millis(250);
/// After a stop is asked for, how long deliveries under way may take to finish. Anything
/// cut off is handed over, and searched for before it is created again.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Wakes the worker from outside: a new submission, or the merchant asking for a retry.
#[derive(Clone, Default)]
pub struct DeliveryHandle {
    wake: Arc<Notify>,
    recheck_auth: Arc<AtomicBool>,
    /// Whether this instance has the turn to deliver (see `turn.rs`).
    delivering: Arc<AtomicBool>,
    /// Since when Clover has answered deliveries with nothing but failures (5xx, timeouts,
    /// unreadable answers); `None` while they go through.
    clover_failing_since: Arc<Mutex<Option<OffsetDateTime>>>,
    /// Whether a delivery of this process has gone through.
    clover_answered_once: Arc<AtomicBool>,
}

impl DeliveryHandle {
    /// Whether this instance had the turn to deliver at its last renewal: then its view
    /// of Clover (the credential's state) is the current one.
    pub fn delivering(&self) -> bool {
        self.delivering.load(Ordering::SeqCst)
    }

    /// Since when every delivery has failed on Clover's side, if they do.
    pub fn clover_failing_since(&self) -> Option<OffsetDateTime> {
        *self.failing_since()
    }

    fn clover_failed(&self) {
        self.failing_since()
            .get_or_insert_with(OffsetDateTime::now_utc);
    }

    fn clover_answered(&self) {
        *self.failing_since() = None;
        self.clover_answered_once.store(true, Ordering::SeqCst);
    }

    /// Whether a delivery of this process has gone through: until one has, what this
    /// process knows of Clover's state is only what it started with.
    pub fn clover_answered_once(&self) -> bool {
        self.clover_answered_once.load(Ordering::SeqCst)
    }

    fn failing_since(&self) -> std::sync::MutexGuard<'_, Option<OffsetDateTime>> {
        // A plain value, replaced in one step: a panic cannot leave it torn.
        self.clover_failing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

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
    /// Until when this instance may start deliveries: its turn, less a margin.
    turn: Mutex<Option<Instant>>,
    /// Submissions this instance has claimed and is delivering.
    under_way: Mutex<HashSet<SubmissionId>>,
    /// While the queue cannot be read.
    outage: Mutex<Outage>,
    handle: DeliveryHandle,
    /// `signup.delivered` and `signup.failed`, for the event webhook.
    events: Events,
    /// How each attempt ended, for `/metrics`.
    metrics: DeliveryMetrics,
}

impl DeliveryWorker {
    pub fn new(
        queue: Arc<dyn Queue>,
        directory: CustomerDirectory,
        settings: &DeliverySettings,
        request_timeout: Duration,
        (handle, events): (DeliveryHandle, Events),
        metrics: DeliveryMetrics,
    ) -> Self {
        Self {
            events,
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
            turn: Mutex::new(None),
            under_way: Mutex::new(HashSet::new()),
            outage: Mutex::default(),
            handle,
            metrics,
        }
    }

    /// Delivers until `stop` turns true, then lets deliveries under way finish.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), StorageError> {
        let worker = Arc::new(self);
        let beat_every = heartbeat_interval(worker.lease);
        worker.beat().await;
        worker.take_turn().await;
        let side_tasks = worker.spawn_side_tasks(beat_every);
        let mut running = JoinSet::new();
        let mut gate = AuthGate::default();
        while !*stop.borrow() {
            let capacity = worker.capacity(running.len(), &mut gate);
            let Some(claimed_any) = worker.start_claimed(capacity, &mut running).await else {
                continue;
            };
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
        worker.hand_over(running, side_tasks).await;
        Ok(())
    }

    /// Claims are renewed by a task of their own, which waits on nothing else: a worker
    /// loop waiting on the database must not let the claims of deliveries under way run
    /// out. The stored credential is watched by another, as reading it may wait for
    /// another instance's refresh; the turn to deliver by a third.
    fn spawn_side_tasks(self: &Arc<Self>, beat_every: Duration) -> [Periodic; 3] {
        let heartbeat = spawn_periodic("delivery claims", beat_every, {
            let worker = Arc::clone(self);
            move || {
                let worker = Arc::clone(&worker);
                async move {
                    worker.beat().await;
                }
            }
        });
        let credential = spawn_periodic("stored credential", beat_every, {
            let directory = self.directory.clone();
            move || {
                let directory = directory.clone();
                async move { directory.reload_credential().await }
            }
        });
        let turn = spawn_periodic("delivery turn", TURN_RENEWAL, {
            let worker = Arc::clone(self);
            move || {
                let worker = Arc::clone(&worker);
                async move { worker.take_turn().await }
            }
        });
        [heartbeat, credential, turn]
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        // A plain record, changed in one step: a panic cannot leave it torn.
        self.outage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims up to `capacity` submissions and starts delivering them. Returns whether it
    /// claimed any, or `None` when the queue could not be read (after a pause).
    async fn start_claimed(
        self: &Arc<Self>,
        capacity: usize,
        running: &mut JoinSet<()>,
    ) -> Option<bool> {
        let claimed = match self.claim(capacity).await {
            Ok(claimed) => {
                if let Some(lasted) = self.outage().ended(Instant::now()) {
                    tracing::info!(
                        lasted_secs = lasted.as_secs(),
                        "the delivery queue can be read again; delivering"
                    );
                }
                claimed
            }
            Err(error) => {
                // Submissions stay safely queued; try again shortly.
                let failed = self.outage().failed(Instant::now());
                if failed.began {
                    tracing::error!(
                        %error,
                        "could not read the delivery queue; trying again quietly until it can be read"
                    );
                }
                tokio::time::sleep(failed.wait).await;
                return None;
            }
        };
        let claimed_any = !claimed.is_empty();
        for delivery in claimed {
            // A claim of this instance's that ran out while its delivery went on (a
            // heartbeat that failed) can come back to it: that delivery carries on.
            let Some(under_way) = UnderWay::start(self, &delivery.id) else {
                continue;
            };
            let worker = Arc::clone(self);
            running.spawn(async move {
                worker.deliver(delivery).await;
                drop(under_way);
            });
        }
        Some(claimed_any)
    }

    /// After a stop: lets deliveries under way finish for a while, then stops the side
    /// tasks and hands what is left over to other instances.
    async fn hand_over(&self, mut running: JoinSet<()>, side_tasks: [Periodic; 3]) {
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        // Deliveries cut off keep their claims until the lease runs out: a request of
        // theirs may still reach Clover, and whoever takes over must find its customer.
        let cut_off = self.under_way_now();
        if finished.is_err() {
            tracing::warn!("deliveries still under way at shutdown are left to other instances");
            running.abort_all();
        }
        for task in &side_tasks {
            task.abort();
        }
        // A pause Clover imposed in the last second is passed on before the turn is.
        self.take_turn().await;
        if let Err(error) = self.queue.leave(&cut_off).await {
            tracing::error!(%error, "could not hand over this instance's deliveries");
        }
    }

    /// How many more submissions to claim now. While Clover refuses the credential, the
    /// deliveries under way finish first; then one delivery every `auth_recheck` (or at
    /// once, when the merchant asks or reconnects) tests whether it works again, and the
    /// rest wait.
    fn capacity(&self, running: usize, gate: &mut AuthGate) -> usize {
        if !self.has_turn() {
            return 0;
        }
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
}
