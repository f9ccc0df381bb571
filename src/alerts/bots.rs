//! What "a spam wave" means: bots turned away in the last hour, against the usual hourly
//! number over the day before. The counts are the stored totals every instance adds to;
//! their history is kept in memory by the instance that looks, one sample a minute.

use std::collections::VecDeque;

use time::{Duration, OffsetDateTime};

/// How much history is kept: a day of usual, plus the hour measured.
const KEPT: Duration = Duration::hours(25);
/// One sample is enough per this long.
const SAMPLE_EVERY: Duration = Duration::minutes(1);
/// A wave is this many times the usual hourly number...
pub const WAVE_FACTOR: u64 = 10;
/// ...and at least this many in the hour: a handful is never a wave.
pub const WAVE_FLOOR: u64 = 50;

#[derive(Debug, Default)]
pub struct BotHistory {
    samples: VecDeque<(OffsetDateTime, u64)>,
}

/// The last hour beside the usual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BotRates {
    pub last_hour: u64,
    /// Bots an hour before the last one, on average; `None` until an hour of it is known.
    pub usual_per_hour: Option<f64>,
}

impl BotRates {
    pub fn is_wave(&self) -> bool {
        let Some(usual) = self.usual_per_hour else {
            return false;
        };
        let threshold = (usual * WAVE_FACTOR as f64).max(WAVE_FLOOR as f64);
        self.last_hour as f64 >= threshold
    }
}

impl BotHistory {
    /// Notes the stored total at `now`, and tells the last hour beside the usual.
    pub fn record(&mut self, now: OffsetDateTime, total: u64) -> BotRates {
        if self
            .samples
            .back()
            .is_none_or(|(at, _)| now - *at >= SAMPLE_EVERY)
        {
            self.samples.push_back((now, total));
        }
        while self.samples.front().is_some_and(|(at, _)| now - *at > KEPT) {
            self.samples.pop_front();
        }
        let hour_ago = now - Duration::hours(1);
        // The latest sample at least an hour old: where the last hour starts.
        let start = self.samples.iter().rev().find(|(at, _)| *at <= hour_ago);
        let (oldest_at, oldest_total) = self.samples.front().copied().unwrap_or((now, total));
        let Some(&(start_at, start_total)) = start else {
            return BotRates {
                last_hour: total.saturating_sub(oldest_total),
                usual_per_hour: None,
            };
        };
        // Samples missing around the hour's start (this instance did not look meanwhile):
        // the difference would hold more than an hour of bots.
        if hour_ago - start_at > SAMPLE_EVERY * 2 {
            return BotRates {
                last_hour: 0,
                usual_per_hour: None,
            };
        }
        let covered = (start_at - oldest_at).as_seconds_f64() / 3600.0;
        BotRates {
            last_hour: total.saturating_sub(start_total),
            usual_per_hour: (covered >= 1.0)
                .then(|| start_total.saturating_sub(oldest_total) as f64 / covered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    /// `per_hour` bots an hour for `hours`, sampled each minute from `start`.
    fn steady(history: &mut BotHistory, start: i64, hours: i64, per_hour: u64, from: u64) -> u64 {
        let mut total = from;
        for minute in 0..hours * 60 {
            total = from + per_hour * minute as u64 / 60;
            history.record(at(start + minute), total);
        }
        total
    }

    #[test]
    fn ten_times_the_usual_is_a_wave_and_a_busy_usual_is_not() {
        let mut history = BotHistory::default();
        let total = steady(&mut history, 0, 24, 12, 0);
        let calm = history.record(at(24 * 60), total + 12);
        assert!(!calm.is_wave(), "{calm:?}");
        let wave = history.record(at(25 * 60), total + 12 + 130);
        assert!(wave.is_wave(), "{wave:?}");
    }

    #[test]
    fn a_handful_is_never_a_wave_and_nothing_is_said_without_an_hour_of_history() {
        let mut history = BotHistory::default();
        let total = steady(&mut history, 0, 3, 0, 0);
        assert!(
            !history.record(at(4 * 60), total + 20).is_wave(),
            "below the floor"
        );
        let mut fresh = BotHistory::default();
        fresh.record(at(0), 0);
        let early = fresh.record(at(30), 1_000);
        assert_eq!(early.usual_per_hour, None);
        assert!(!early.is_wave());
    }

    #[test]
    fn a_gap_in_the_samples_is_no_wave() {
        let mut history = BotHistory::default();
        let total = steady(&mut history, 0, 3, 6, 0);
        // Ten hours without a look, 600 bots meanwhile: not an hour's worth.
        let after_gap = history.record(at(13 * 60), total + 600);
        assert!(!after_gap.is_wave(), "{after_gap:?}");
    }
}
