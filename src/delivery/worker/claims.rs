//! The worker's claims on queued submissions: taking them, the heartbeat that renews
//! them (and counts the instances alive), and the time left on one
//! before a delivery writes to Clover. The arithmetic is `delivery::lease`'s.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::DeliveryWorker;
use crate::delivery::QueuedDelivery;
use crate::delivery::lease::send_writes_by;
use crate::storage::{StorageError, SubmissionId};

/// A submission's place in the set of deliveries under way, given up when dropped, a
/// panic included.
pub(super) struct UnderWay {
    worker: Arc<DeliveryWorker>,
    id: SubmissionId,
}

impl UnderWay {
    /// `None` when the submission is already under way here.
    pub(super) fn start(worker: &Arc<DeliveryWorker>, id: &SubmissionId) -> Option<Self> {
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

impl DeliveryWorker {
    /// Renews the claims of the deliveries under way and this instance's presence.
    /// Returns how many instances are alive.
    pub(super) async fn beat(&self) -> usize {
        match self
            .queue
            .heartbeat(self.lease, &self.under_way_now())
            .await
        {
            Ok(instances) => {
                let previous = self.instances.swap(instances, Ordering::SeqCst);
                if previous != instances {
                    tracing::info!(instances, "instances running on this database");
                }
                instances
            }
            Err(error) => {
                // Claims not renewed may run out and be taken over; before it writes to
                // Clover, each delivery checks its claim still has time to run.
                if self.outage().is_on() {
                    tracing::debug!(%error, "could not renew this instance's delivery claims");
                } else {
                    tracing::error!(%error, "could not renew this instance's delivery claims");
                }
                self.instances.load(Ordering::SeqCst)
            }
        }
    }

    /// Claims up to `capacity` due submissions; with no room, asks the queue nothing.
    pub(super) async fn claim(&self, capacity: usize) -> Result<Vec<QueuedDelivery>, StorageError> {
        if capacity == 0 {
            return Ok(Vec::new());
        }
        self.queue.claim_due(capacity, self.lease).await
    }

    pub(super) fn under_way_now(&self) -> Vec<SubmissionId> {
        let under_way = self.under_way.lock().expect("under-way lock");
        under_way.iter().cloned().collect()
    }

    /// Until when this instance may send the delivery's writes to Clover (see
    /// [`send_writes_by`]). `None` when the claim is gone or too short, or the database
    /// cannot say: the delivery is then left to whoever holds the submission, or to the
    /// next attempt, which searches first.
    pub(super) async fn write_deadline(&self, delivery: &QueuedDelivery) -> Option<Instant> {
        match self.queue.claim_left(&delivery.id).await {
            Ok(Some(left)) => send_writes_by(left, self.request_timeout),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(submission = %delivery.id, %error, "could not check a delivery's claim");
                None
            }
        }
    }
}
