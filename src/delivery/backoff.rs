use std::time::Duration;

use rand::Rng;

/// Exponential backoff with "equal jitter": the n-th retry waits between half and all of
/// `base · 2ⁿ⁻¹` (capped), so waits grow every time while retries from many submissions
/// spread out instead of arriving together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `attempt`-th failed attempt (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.max)
            .as_millis() as u64;
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=ceiling - half);
        Duration::from_millis(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_and_stop_at_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(600),
        };
        for _ in 0..100 {
            let first = backoff.delay(1);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
            let fourth = backoff.delay(4);
            assert!(fourth >= Duration::from_secs(8) && fourth <= Duration::from_secs(16));
            let late = backoff.delay(40);
            assert!(late >= Duration::from_secs(300) && late <= Duration::from_secs(600));
        }
    }
}
