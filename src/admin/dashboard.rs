//! The dashboard's figures that are more than a read: signups summed into the merchant's
//! days (in `TIMEZONE`, the digest's zone, so that the chart and the digest agree on
//! what "Tuesday" was), the period the chart covers, the days an export names, and
//! durations in words.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::QUARTER_HOUR_MS;

/// How many days the chart shows, today included.
pub const CHART_DAYS: i64 = 30;

/// Signups received on one day of the merchant's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The short form the chart's axis shows, like `Jun 3`.
    #[serde(skip)]
    pub label: String,
    pub signups: u64,
}

/// The first of the last [`CHART_DAYS`] days in `zone` (today is the last), and the
/// instant it began (Unix milliseconds).
pub fn chart_start(now: Timestamp, zone: &TimeZone) -> Option<(Date, i64)> {
    let today = now.to_zoned_datetime(zone.clone()).date();
    let first = today.checked_sub((CHART_DAYS - 1).days()).ok()?;
    Some((first, start_of(first, zone)?))
}

/// When `day` began in `zone` (Unix milliseconds): midnight, or the first instant after
/// it where a clock change skips midnight.
pub fn start_of(day: Date, zone: &TimeZone) -> Option<i64> {
    let start = day
        .to_zoned_datetime(zone.clone())
        .ok()?
        .start_of_day()
        .ok()?;
    Some(start.timestamp().as_millisecond())
}

/// Sums counts per quarter of an hour into the [`CHART_DAYS`] days from `first`, every
/// day present, oldest first.
pub fn per_day(per_quarter: &[(i64, u64)], first: Date, zone: &TimeZone) -> Vec<DayCount> {
    let mut by_day: BTreeMap<Date, u64> = BTreeMap::new();
    for &(quarter, count) in per_quarter {
        let Ok(at) = Timestamp::from_millisecond(quarter.saturating_mul(QUARTER_HOUR_MS)) else {
            continue;
        };
        *by_day
            .entry(at.to_zoned_datetime(zone.clone()).date())
            .or_default() += count;
    }
    first
        .series(1.day())
        .take(usize::try_from(CHART_DAYS).unwrap_or(0))
        .map(|day| DayCount {
            date: day.to_string(),
            label: day.strftime("%b %-d").to_string(),
            signups: by_day.get(&day).copied().unwrap_or(0),
        })
        .collect()
}

/// Why an export's dates were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("Give the dates as YYYY-MM-DD, like 2026-03-01.")]
    NotADate,
    #[error("The first day comes after the last.")]
    Backwards,
}

/// The days `from` to `to`, both included, and the instants `[from_ms, to_ms)` they span
/// in the zone they were read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: Date,
    pub to: Date,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The days `from` to `to`, given as `YYYY-MM-DD`, in `zone`.
pub fn days_between(from: &str, to: &str, zone: &TimeZone) -> Result<DayRange, RangeError> {
    let parse = |text: &str| {
        let text = text.trim();
        // `YYYY-MM-DD` alone: jiff would also take a date with a time of day.
        if text.len() != 10 {
            return Err(RangeError::NotADate);
        }
        text.parse::<Date>().map_err(|_| RangeError::NotADate)
    };
    let (from, to) = (parse(from)?, parse(to)?);
    if from > to {
        return Err(RangeError::Backwards);
    }
    let after = to.tomorrow().map_err(|_| RangeError::NotADate)?;
    match (start_of(from, zone), start_of(after, zone)) {
        (Some(from_ms), Some(to_ms)) => Ok(DayRange {
            from,
            to,
            from_ms,
            to_ms,
        }),
        _ => Err(RangeError::NotADate),
    }
}

/// A duration as a merchant reads it: `850 ms`, `4.2 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration_words(ms: i64) -> String {
    let ms = ms.max(0);
    let (minute, hour, day) = (60_000, 3_600_000, 86_400_000);
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < minute {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < hour {
        format!("{} min", ms / minute)
    } else if ms < day {
        format!("{} h {} min", ms / hour, ms % hour / minute)
    } else {
        format!("{} d {} h", ms / day, ms % day / hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_chart_covers_thirty_days_ending_today_in_the_zone() {
        // 02:00 UTC on 1 March is still 28 February in New York.
        let now = at("2026-03-01T02:00:00Z");
        let (first, start) = chart_start(now, &zone("America/New_York")).unwrap();
        assert_eq!(first.to_string(), "2026-01-30");
        assert_eq!(start, at("2026-01-30T05:00:00Z").as_millisecond());
        let (first, _) = chart_start(now, &TimeZone::UTC).unwrap();
        assert_eq!(first.to_string(), "2026-01-31");
    }

    #[test]
    fn quarters_are_summed_into_the_zones_days_with_every_day_present() {
        let tokyo = zone("Asia/Tokyo");
        let first: Date = "2026-03-01".parse().unwrap();
        let quarter = |text: &str| at(text).as_millisecond() / QUARTER_HOUR_MS;
        let counts = [
            // 23:45 UTC on 28 February is 08:45 on 1 March in Tokyo.
            (quarter("2026-02-28T23:45:00Z"), 2),
            (quarter("2026-03-01T14:45:00Z"), 1),
            // 15:00 UTC is midnight in Tokyo: the next day.
            (quarter("2026-03-01T15:00:00Z"), 4),
        ];
        let days = per_day(&counts, first, &tokyo);
        assert_eq!(days.len(), 30);
        assert_eq!((days[0].date.as_str(), days[0].signups), ("2026-03-01", 3));
        assert_eq!((days[1].date.as_str(), days[1].signups), ("2026-03-02", 4));
        assert_eq!(days[1].label, "Mar 2");
        assert!(days[2..].iter().all(|d| d.signups == 0));
        assert_eq!(days[29].date, "2026-03-30");
    }

    #[test]
    fn an_export_covers_whole_days_in_the_zone() {
        let paris = zone("Europe/Paris");
        let range = days_between("2026-03-01", " 2026-03-02", &paris).unwrap();
        assert_eq!(range.from_ms, at("2026-02-28T23:00:00Z").as_millisecond());
        assert_eq!(range.to_ms, at("2026-03-02T23:00:00Z").as_millisecond());
        assert_eq!(range.to.to_string(), "2026-03-02");
        assert_eq!(
            days_between("2026-03-02", "2026-03-01", &paris),
            Err(RangeError::Backwards)
        );
        assert_eq!(
            days_between("March 1", "2026-03-01", &paris),
            Err(RangeError::NotADate)
        );
        assert_eq!(
            days_between("2026-03-01T10:00", "2026-03-01", &paris),
            Err(RangeError::NotADate)
        );
    }

    #[test]
    fn durations_read_in_the_largest_fitting_units() {
        assert_eq!(duration_words(850), "850 ms");
        assert_eq!(duration_words(4_240), "4.2 s");
        assert_eq!(duration_words(12 * 60_000 + 5_000), "12 min");
        assert_eq!(duration_words(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(duration_words(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
    }
}
