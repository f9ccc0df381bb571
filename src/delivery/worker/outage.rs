//! An unreadable queue (the database restarting, failing over, its disk full) is told
//! once when it starts and once when it ends, not every second between, and the worker
//! waits longer between tries the longer it lasts, up to a few seconds.

use std::time::Duration;

use tokio::time::Instant;

/// The first wait after the queue could not be read.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest: a database that comes back is used within this.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(super) struct Outage {
    /// Since when, and the wait before the next try, while the queue cannot be read.
    current: Option<(Instant, Duration)>,
}

/// What to do about a failed read of the queue.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Failed {
    /// The outage has just begun: say so.
    pub began: bool,
    /// How long to wait before trying again.
    pub wait: Duration,
}

impl Outage {
    pub(super) fn failed(&mut self, now: Instant) -> Failed {
        match &mut self.current {
            None => {
                self.current = Some((now, FIRST_WAIT));
                Failed {
                    began: true,
                    wait: FIRST_WAIT,
                }
            }
            Some((_, wait)) => {
                *wait = (*wait * 2).min(LONGEST_WAIT);
                Failed {
                    began: false,
                    wait: *wait,
                }
            }
        }
    }

    /// Whether the queue is known to be unreadable: other failures meanwhile are the
    /// same outage, already told.
    pub(super) fn is_on(&self) -> bool {
        self.current.is_some()
    }

    /// The queue was read: how long the outage lasted, if there was one.
    pub(super) fn ended(&mut self, now: Instant) -> Option<Duration> {
        self.current
            .take()
            .map(|(since, _)| now.saturating_duration_since(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once_and_its_waits_grow_to_a_few_seconds() {
        let start = Instant::now();
        let mut outage = Outage::default();
        assert_eq!(outage.ended(start), None, "no outage, nothing to tell");

        let waits: Vec<_> = (0..6)
            .map(|n| outage.failed(start + Duration::from_secs(n)))
            .collect();
        assert!(waits[0].began);
        assert!(waits[1..].iter().all(|failed| !failed.began));
        let secs: Vec<_> = waits.iter().map(|failed| failed.wait.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5, 5]);

        let lasted = outage.ended(start + Duration::from_secs(30));
        assert_eq!(lasted, Some(Duration::from_secs(30)));
        assert_eq!(
            outage.ended(start + Duration::from_secs(31)),
            None,
            "told once"
        );
        assert!(
            outage.failed(start + Duration::from_secs(40)).began,
            "a new outage"
        );
    }
}
