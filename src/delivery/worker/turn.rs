//! The turn to deliver. Clover's limits are per token, not per machine: instances that
//! each kept to a share would leave the shares of idle or dead ones unused, so one
//! instance at a time sends deliveries, at the whole rate (see
//! [`crate::delivery::Queue::take_turn`]). The others keep taking signups. The same
//! renewal passes on a pause Clover imposed on any instance.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::DeliveryWorker;
use crate::storage::now_ms;

/// How long a turn lasts unless renewed. The holder renews it every [`TURN_RENEWAL`], so
/// the turn of an instance that died passes on within about five seconds.
const TURN_LEASE: Duration = Duration::from_secs(4);
/// How often every instance takes or renews the turn.
pub(super) const TURN_RENEWAL: Duration = Duration::from_secs(1);
/// The holder starts no delivery in the last second of its turn, as counted from before
/// it asked: another instance can take the turn only after it ran out in the database.
const TURN_MARGIN: Duration = Duration::from_secs(1);

impl DeliveryWorker {
    /// Takes or renews this instance's turn, and keeps the latest pause Clover imposed on
    /// any instance. When the database does not answer, a turn held runs out by itself
    /// (the worker loop tells of the outage).
    pub(super) async fn take_turn(&self) {
        let asked_at = Instant::now();
        let paused_until = self
            .directory
            .paused_for()
            .map(|left| now_ms().saturating_add(i64::try_from(left.as_millis()).unwrap_or(0)));
        let Ok(turn) = self.queue.take_turn(TURN_LEASE, paused_until).await else {
            self.handle.delivering.store(false, Ordering::SeqCst);
            return;
        };
        if let Some(left) = turn
            .clover_paused_until
            .and_then(|until| u64::try_from(until - now_ms()).ok())
        {
            self.directory.pause(Duration::from_millis(left));
        }
        let until = turn.ours.then(|| asked_at + TURN_LEASE - TURN_MARGIN);
        // A turn that lapsed (the database did not answer its renewal) is not held: the
        // worker, idle meanwhile, must be woken when it comes back.
        let had = std::mem::replace(&mut *self.turn_until(), until)
            .is_some_and(|previous| previous > asked_at);
        self.handle.delivering.store(turn.ours, Ordering::SeqCst);
        if turn.ours && !had {
            tracing::info!("this instance's turn to deliver");
            self.handle.wake();
        } else if !turn.ours && had {
            tracing::info!("another instance's turn to deliver");
        }
    }

    /// Whether this instance may start a delivery now.
    pub(super) fn has_turn(&self) -> bool {
        self.turn_until()
            .is_some_and(|until| Instant::now() < until)
    }

    fn turn_until(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A plain value, replaced in one step: a panic cannot leave it torn.
        self.turn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
