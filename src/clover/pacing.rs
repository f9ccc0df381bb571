use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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
/// When several instances of the service share the token, one at a time delivers (see
/// [`crate::delivery::Queue::take_turn`]), and a `retry-after` one of them meets is
/// passed on to the others.
pub struct Pacer {
    spacing: DefaultDirectRateLimiter,
    in_flight: Arc<Semaphore>,
    /// Set by a `429`: no request may start before this instant.
    not_before: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(per_second: u32, max_in_flight: usize) -> Self {
        Self {
            spacing: spaced(per_second),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            not_before: Mutex::new(None),
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
            self.spacing.until_ready().await;
            // A 429 may have arrived while we waited for our slot.
            if self.hold_until().is_none() {
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

    /// What is left of the current `retry-after`, if one runs.
    pub fn held_for(&self) -> Option<Duration> {
        self.hold_until()
            .map(|until| until.saturating_duration_since(Instant::now()))
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
}
