use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Clover allows 16 requests per second per token; we stay one below so that jitter on the
/// way there cannot push two requests into the same second's seventeenth slot.
pub const REQUESTS_PER_SECOND: u32 = 15;
/// Clover allows 5 requests in flight per token.
pub const MAX_IN_FLIGHT: usize = 5;

/// Keeps every request of one token inside Clover's limits: evenly spaced (no bursts),
/// never more than [`MAX_IN_FLIGHT`] at once, and none at all while a `retry-after` runs.
/// When several instances of the service share the token, each keeps to its share.
pub struct Pacer {
    per_second: u32,
    max_in_flight: usize,
    /// Replaced when the share changes; requests waiting on the old one wait again.
    spacing: RwLock<(u32, Arc<DefaultDirectRateLimiter>)>,
    in_flight: Arc<Semaphore>,
    /// Permits of `in_flight` taken out of use for the other instances' share.
    withheld: Mutex<usize>,
    /// Set by a `429`: no request may start before this instant.
    not_before: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(per_second: u32, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Self {
            per_second,
            max_in_flight,
            spacing: RwLock::new((per_second, Arc::new(spaced(per_second)))),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            withheld: Mutex::new(0),
            not_before: Mutex::new(None),
        }
    }

    /// Keeps to one share of the token's limits among `instances` (at least one request a
    /// second and one in flight). A request in flight when the share shrinks is not
    /// interrupted; its permit is withheld at a later call, so call this again now and
    /// then (every heartbeat does).
    ///
    /// Any one second can hold one request more than a sender's rate (one at each end),
    /// and the instances' seconds do not line up: so each instance gives up one more
    /// request a second, or two paced at 7/s could still put 17 in one of Clover's seconds.
    pub fn share_among(&self, instances: usize) {
        let instances = instances.max(1);
        let per_second = match instances {
            1 => self.per_second,
            n => ((self.per_second + 1) / n as u32).saturating_sub(2).max(1),
        };
        let in_flight = (self.max_in_flight / instances).max(1);
        let wanted_withheld = self.max_in_flight - in_flight;
        let mut withheld = self.withheld.lock().expect("pacer lock");
        if wanted_withheld > *withheld {
            *withheld += self.in_flight.forget_permits(wanted_withheld - *withheld);
        } else if wanted_withheld < *withheld {
            self.in_flight.add_permits(*withheld - wanted_withheld);
            *withheld = wanted_withheld;
        }
        let mut spacing = self.spacing.write().expect("pacer lock");
        if spacing.0 != per_second {
            *spacing = (per_second, Arc::new(spaced(per_second)));
        }
    }

    /// Clover's per-token limits.
    pub fn for_clover_token() -> Self {
        Self::new(REQUESTS_PER_SECOND, MAX_IN_FLIGHT)
    }

    /// Waits for a turn to send one request. Hold the permit until the answer has arrived.
    pub async fn turn(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            if let Some(until) = self.hold_until() {
                tokio::time::sleep_until(until).await;
            }
            let spacing = Arc::clone(&self.spacing.read().expect("pacer lock").1);
            spacing.until_ready().await;
            // A 429 may have arrived while we waited for our slot, or the share changed:
            // a slot of the old pace does not count under the new one.
            let current = Arc::ptr_eq(&spacing, &self.spacing.read().expect("pacer lock").1);
            if current && self.hold_until().is_none() {
                return permit;
            }
        }
    }

    /// Clover said `retry-after`: nobody sends anything for `wait`.
    pub fn hold_off(&self, wait: Duration) {
        // An absurd wait must not overflow the clock: a day is as good as forever here.
        let until = Instant::now() + wait.min(Duration::from_secs(86_400));
        let mut not_before = self.not_before.lock().expect("pacer lock");
        if not_before.is_none_or(|current| current < until) {
            *not_before = Some(until);
        }
    }

    fn hold_until(&self) -> Option<Instant> {
        let not_before = *self.not_before.lock().expect("pacer lock");
        not_before.filter(|until| *until > Instant::now())
    }
}

/// A burst of one spaces requests 1/rate apart instead of letting them bunch up.
fn spaced(per_second: u32) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(per_second.max(1)).expect("at least one");
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hold_off_delays_every_later_request() {
        let pacer = Pacer::new(1000, 5);
        let start = Instant::now();
        pacer.hold_off(Duration::from_millis(300));
        drop(pacer.turn().await);
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn no_more_than_the_limit_are_in_flight() {
        let pacer = Pacer::new(1000, 2);
        let first = pacer.turn().await;
        let _second = pacer.turn().await;
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.turn()).await;
        assert!(
            third.is_err(),
            "a third request started while two were in flight"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(1), pacer.turn()).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn a_share_of_the_limits_halves_the_requests_in_flight_and_back() {
        let pacer = Pacer::new(1000, 4);
        pacer.share_among(2);
        let _first = pacer.turn().await;
        let _second = pacer.turn().await;
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.turn()).await;
        assert!(third.is_err(), "a third request started on half of four");

        pacer.share_among(1);
        let third = tokio::time::timeout(Duration::from_secs(1), pacer.turn()).await;
        assert!(third.is_ok(), "the whole budget came back");
    }

    #[tokio::test]
    async fn a_share_of_the_rate_spaces_requests_further_apart() {
        let pacer = Pacer::new(15, 5);
        pacer.share_among(2);
        drop(pacer.turn().await);
        let start = Instant::now();
        drop(pacer.turn().await);
        // Six a second (two instances, 12 in all, with room for where seconds fall):
        // the second request waits about 167 ms, not 67.
        assert!(start.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn a_share_taken_while_requests_are_in_flight_is_made_up_as_they_finish() {
        let pacer = Pacer::new(1000, 4);
        let busy: Vec<_> = [(); 4].iter().map(|_| pacer.turn()).collect();
        let busy = futures_util::future::join_all(busy).await;
        pacer.share_among(2);
        drop(busy);
        pacer.share_among(2);

        let _first = pacer.turn().await;
        let _second = pacer.turn().await;
        let third = tokio::time::timeout(Duration::from_millis(50), pacer.turn()).await;
        assert!(third.is_err(), "more than half of four in flight");
    }
}
