//! The counter tablets' allowance. Every signup typed on a kiosk comes from the shop's one
//! public address, so the per-address limit would stop a busy counter; each paired device
//! gets its own allowance instead (`KIOSK_RATE_PER_MINUTE`), generous for people and
//! still a wall for a script driving a stolen device cookie.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::TooManyRequests;

/// Keyed by device id; only paired devices reach it, so it holds a handful of keys.
pub struct DeviceLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl DeviceLimiter {
    /// `per_minute` signups a minute per device, all of them at once if need be: a queue
    /// at the counter arrives in bursts.
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// Counts one signup typed on `device`.
    pub fn check(&self, device: &str) -> Result<(), TooManyRequests> {
        self.limiter
            .check_key(&device.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                TooManyRequests {
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    // A tablet in a shop is never answered as a flood: the staff need to
                    // see the form and the message.
                    flooding: false,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_has_its_own_allowance() {
        let limiter = DeviceLimiter::new(NonZeroU32::new(2).unwrap());
        assert!(limiter.check("front").is_ok());
        assert!(limiter.check("front").is_ok());
        let refused = limiter.check("front").unwrap_err();
        assert!(refused.retry_after_secs >= 1 && !refused.flooding);
        assert!(
            limiter.check("back").is_ok(),
            "another device is not refused"
        );
    }
}
