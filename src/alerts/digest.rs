//! The digest: new signups, delivered, waiting, failed, bots turned away, the consent
//! rate and the consents withdrawn over the last day (or week), beside the period before,
//! sent at `DIGEST_HOUR` in `TIMEZONE`. A period with nothing to say is skipped unless the merchant asks
//! (`DIGEST_WHEN_QUIET`). Claiming the period in the database is what lets an instance
//! send it, so a restart or a second instance never sends one twice.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::Message;
use super::message::Layout;
use crate::admin::{Backlog, SourceCount};
use crate::configuration::{Cadence, DigestSettings};
use crate::storage::StorageError;

/// What happened in one period, from the stored submissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    /// Signups received.
    pub received: u64,
    /// Of those, how many ticked the box for marketing: under double opt-in, before
    /// their confirmation too (the ledger's `given`), since the rate is of visitors.
    pub consented: u64,
    /// Signups delivered to Clover in the period (received in it or before).
    pub delivered: u64,
    /// Consents withdrawn in the period, by the people or by the merchant.
    pub withdrawn: u64,
}

/// The digests sent, and the counts they are made of. Implemented in `storage`.
#[async_trait]
pub trait DigestLedger: Send + Sync {
    async fn counts(&self, from_ms: i64, to_ms: i64) -> Result<PeriodCounts, StorageError>;
    /// Claims `period` for this instance at `now_ms`, noting the bots counted so far.
    /// `None` when it was claimed before; else the bots counted at the previous digest,
    /// if there was one.
    async fn claim(
        &self,
        period: &str,
        now_ms: i64,
        bots_total: u64,
    ) -> Result<Option<Option<u64>>, StorageError>;
    /// Sending failed: the period may be claimed again.
    async fn release(&self, period: &str) -> Result<(), StorageError>;
}

/// One period: `[start_ms, end_ms)`, and its name in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub key: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Where the period before starts: as many of the merchant's days earlier, which
    /// across a clock change is not the same number of hours.
    pub previous_start_ms: i64,
    /// The day the period ends on, as the merchant reads it.
    pub ending: Date,
}

impl Period {
    /// The period just before this one.
    pub fn previous(&self) -> (i64, i64) {
        (self.previous_start_ms, self.start_ms)
    }
}

/// The last period that ended at or before `now`, if digests are on. Days follow the
/// merchant's calendar: a day with a clock change is 23 or 25 hours long.
pub fn last_period(now: Timestamp, settings: &DigestSettings) -> Option<Period> {
    let days: i64 = match settings.cadence {
        Cadence::Off => return None,
        Cadence::Daily => 1,
        Cadence::Weekly => 7,
    };
    let zone = &settings.time_zone;
    let today = now.to_zoned_datetime(zone.clone()).date();
    let back = match settings.cadence {
        Cadence::Weekly => i64::from(today.weekday().to_monday_zero_offset()),
        _ => 0,
    };
    let mut boundary_day = today.checked_sub(back.days()).ok()?;
    let mut end = at_hour(boundary_day, settings.hour, zone)?;
    if end > now {
        boundary_day = boundary_day.checked_sub(days.days()).ok()?;
        end = at_hour(boundary_day, settings.hour, zone)?;
    }
    let start = at_hour(
        boundary_day.checked_sub(days.days()).ok()?,
        settings.hour,
        zone,
    )?;
    let previous_start = at_hour(
        boundary_day.checked_sub((2 * days).days()).ok()?,
        settings.hour,
        zone,
    )?;
    let name = if days == 1 { "daily" } else { "weekly" };
    Some(Period {
        key: format!("{name}:{boundary_day}"),
        start_ms: start.as_millisecond(),
        end_ms: end.as_millisecond(),
        previous_start_ms: previous_start.as_millisecond(),
        ending: boundary_day,
    })
}

fn at_hour(day: Date, hour: u8, zone: &TimeZone) -> Option<Timestamp> {
    let hour = i8::try_from(hour).ok()?;
    Some(
        day.at(hour, 0, 0, 0)
            .to_zoned_datetime(zone.clone())
            .ok()?
            .timestamp(),
    )
}

/// What a digest is made of.
pub struct DigestFacts<'a> {
    pub shop: &'a str,
    pub daily: bool,
    pub period: &'a Period,
    pub now: PeriodCounts,
    pub before: PeriodCounts,
    pub backlog: Backlog,
    /// Bots turned away since the previous digest, when there was one.
    pub bots: Option<u64>,
    /// The period's signups by where they came from, most first.
    pub sources: &'a [SourceCount],
    pub admin_url: &'a str,
}

impl DigestFacts<'_> {
    /// Nothing came in, went out or waits: no digest unless the merchant asks.
    pub fn is_quiet(&self) -> bool {
        self.now == PeriodCounts::default()
            && self.backlog.pending == 0
            && self.backlog.failed == 0
            && self.bots.unwrap_or(0) == 0
    }
}

pub fn compose_digest(facts: &DigestFacts<'_>) -> Message {
    let (kind, before_name) = if facts.daily {
        ("Daily", "the day before")
    } else {
        ("Weekly", "the week before")
    };
    let (now, before) = (facts.now, facts.before);
    let rate = |counts: PeriodCounts| {
        (counts.consented * 100)
            .checked_div(counts.received)
            .map_or_else(|| "-".to_owned(), |share| format!("{share} %"))
    };
    let mut lines = vec![
        format!(
            "New signups: {} ({before_name}: {})",
            now.received, before.received
        ),
        format!(
            "Delivered to Clover: {} ({before_name}: {})",
            now.delivered, before.delivered
        ),
        format!("Waiting for Clover now: {}", facts.backlog.pending),
        format!("Failed, waiting for you: {}", facts.backlog.failed),
        format!(
            "Agreed to marketing: {} ({before_name}: {})",
            rate(now),
            rate(before)
        ),
    ];
    if now.withdrawn > 0 || before.withdrawn > 0 {
        lines.push(format!(
            "Unsubscribed: {} ({before_name}: {})",
            now.withdrawn, before.withdrawn
        ));
    }
    if facts.sources.iter().any(|count| count.source.is_some()) {
        let each: Vec<String> = (facts.sources.iter())
            .map(|count| {
                let source = count.source.as_deref().unwrap_or("no source");
                format!("{source} {}", count.signups)
            })
            .collect();
        lines.push(format!("By source: {}", each.join(", ")));
    }
    if let Some(bots) = facts.bots {
        lines.push(format!("Bots turned away since the last digest: {bots}"));
    }
    let subject = format!(
        "[{}] {kind} digest: {} new signup(s), to {}",
        facts.shop, now.received, facts.period.ending
    );
    Message::of_lines(subject, &lines, facts.admin_url, Layout::List)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cadence: Cadence, zone: &str) -> DigestSettings {
        DigestSettings {
            cadence,
            hour: 8,
            time_zone: TimeZone::get(zone).unwrap(),
            when_quiet: false,
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_daily_period_ends_at_the_hour_in_the_merchants_zone() {
        let daily = settings(Cadence::Daily, "America/New_York");
        // 09:00 in New York (14:00 UTC): the day that ended at 08:00 today.
        let period = last_period(ts("2026-12-05T14:00:00Z"), &daily).unwrap();
        assert_eq!(period.key, "daily:2026-12-05");
        assert_eq!(period.end_ms, ts("2026-12-05T13:00:00Z").as_millisecond());
        assert_eq!(period.start_ms, ts("2026-12-04T13:00:00Z").as_millisecond());
        // 07:00 there: today's has not ended yet.
        let period = last_period(ts("2026-12-05T12:00:00Z"), &daily).unwrap();
        assert_eq!(period.key, "daily:2026-12-04");
    }

    #[test]
    fn a_day_with_a_clock_change_is_as_long_as_the_merchants_day() {
        let daily = settings(Cadence::Daily, "Europe/Paris");
        // Clocks went back an hour early on 2026-10-25: from 08:00 the day before to
        // 08:00 that day is 25 hours.
        let period = last_period(ts("2026-10-25T12:00:00Z"), &daily).unwrap();
        assert_eq!(period.key, "daily:2026-10-25");
        assert_eq!(period.end_ms - period.start_ms, 25 * 3_600_000);
        // The day after is 24 hours, compared with the 25-hour day before it.
        let next = last_period(ts("2026-10-26T12:00:00Z"), &daily).unwrap();
        assert_eq!(next.end_ms - next.start_ms, 24 * 3_600_000);
        assert_eq!(next.previous(), (period.start_ms, period.end_ms));
    }

    #[test]
    fn a_weekly_period_ends_on_monday() {
        let weekly = settings(Cadence::Weekly, "UTC");
        // Saturday 2026-12-05: the week that ended on Monday 2026-11-30 at 08:00.
        let period = last_period(ts("2026-12-05T10:00:00Z"), &weekly).unwrap();
        assert_eq!(period.key, "weekly:2026-11-30");
        assert_eq!(period.end_ms - period.start_ms, 7 * 24 * 3_600_000);
        assert!(last_period(ts("2026-12-05T10:00:00Z"), &settings(Cadence::Off, "UTC")).is_none());
    }

    #[test]
    fn a_digest_compares_with_the_period_before() {
        let period =
            last_period(ts("2026-12-05T10:00:00Z"), &settings(Cadence::Daily, "UTC")).unwrap();
        let facts = DigestFacts {
            shop: "Shop",
            daily: true,
            period: &period,
            now: PeriodCounts {
                received: 4,
                consented: 3,
                delivered: 4,
                withdrawn: 1,
            },
            before: PeriodCounts {
                received: 2,
                consented: 1,
                delivered: 2,
                withdrawn: 0,
            },
            backlog: Backlog::default(),
            bots: Some(7),
            sources: &[
                SourceCount {
                    source: Some("counter".into()),
                    signups: 3,
                },
                SourceCount {
                    source: None,
                    signups: 1,
                },
            ],
            admin_url: "https://signup.example/admin",
        };
        let message = compose_digest(&facts);
        assert!(
            message.text.contains("By source: counter 3, no source 1"),
            "{}",
            message.text
        );
        assert_eq!(
            message.subject,
            "[Shop] Daily digest: 4 new signup(s), to 2026-12-05"
        );
        assert!(message.text.contains("New signups: 4 (the day before: 2)"));
        assert!(
            message
                .text
                .contains("Agreed to marketing: 75 % (the day before: 50 %)")
        );
        assert!(
            message
                .text
                .contains("Bots turned away since the last digest: 7")
        );
        assert!(message.text.contains("Unsubscribed: 1 (the day before: 0)"));
        assert!(!facts.is_quiet());
    }
}
