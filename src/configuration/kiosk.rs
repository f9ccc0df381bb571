//! The counter tablet: `KIOSK_THANKS_SECONDS`, `KIOSK_IDLE_SECONDS` and
//! `KIOSK_RATE_PER_MINUTE`.

use std::num::NonZeroU32;
use std::time::Duration;

use super::reader::{Read, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KioskSettings {
    /// `KIOSK_THANKS_SECONDS`: how long the thank-you screen stays before a fresh form.
    pub thanks: Duration,
    /// `KIOSK_IDLE_SECONDS`: a form left untouched this long is cleared.
    pub idle: Duration,
    /// `KIOSK_RATE_PER_MINUTE`: signups a minute one tablet may send.
    pub rate_per_minute: NonZeroU32,
}

impl Default for KioskSettings {
    fn default() -> Self {
        Self {
            thanks: Duration::from_secs(6),
            idle: Duration::from_secs(60),
            rate_per_minute: NonZeroU32::new(20).expect("above 0"),
        }
    }
}

pub(super) fn read(env: &mut Reader<'_>) -> Read<KioskSettings> {
    let defaults = KioskSettings::default();
    let thanks = seconds(env, "KIOSK_THANKS_SECONDS", 1..=300, defaults.thanks);
    let idle = seconds(env, "KIOSK_IDLE_SECONDS", 5..=3600, defaults.idle);
    let rate = whole(
        env,
        "KIOSK_RATE_PER_MINUTE",
        1..=600,
        defaults.rate_per_minute.get().into(),
    );
    Ok(KioskSettings {
        thanks: thanks?,
        idle: idle?,
        rate_per_minute: NonZeroU32::new(u32::try_from(rate?).unwrap_or(1))
            .unwrap_or(NonZeroU32::MIN),
    })
}

fn seconds(
    env: &mut Reader<'_>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: Duration,
) -> Read<Duration> {
    whole(env, name, range, default.as_secs()).map(Duration::from_secs)
}

fn whole(
    env: &mut Reader<'_>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Read<u64> {
    let expected = format!("a whole number from {} to {}", range.start(), range.end());
    match env.parsed::<u64>(name, &expected)? {
        None => Ok(default),
        Some(value) if range.contains(&value) => Ok(value),
        Some(_) => Err(env.problem(format!("{name}: expected {expected}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use std::time::Duration;

    #[test]
    fn the_kiosk_has_the_contracts_defaults() {
        let kiosk = settings(&[]).unwrap().kiosk;
        assert_eq!(kiosk.thanks, Duration::from_secs(6));
        assert_eq!(kiosk.idle, Duration::from_secs(60));
        assert_eq!(kiosk.rate_per_minute.get(), 20);
    }

    #[test]
    fn every_kiosk_setting_out_of_range_is_named() {
        let error = settings(&[
            ("KIOSK_THANKS_SECONDS", "0"),
            ("KIOSK_IDLE_SECONDS", "soon"),
            ("KIOSK_RATE_PER_MINUTE", "100000"),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "KIOSK_THANKS_SECONDS",
            "KIOSK_IDLE_SECONDS",
            "KIOSK_RATE_PER_MINUTE",
        ] {
            assert!(error.contains(name), "{name} in {error}");
        }
        let set = settings(&[("KIOSK_IDLE_SECONDS", "90"), ("KIOSK_RATE_PER_MINUTE", "5")])
            .unwrap()
            .kiosk;
        assert_eq!(set.idle, Duration::from_secs(90));
        assert_eq!(set.rate_per_minute.get(), 5);
    }
}
