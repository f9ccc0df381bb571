//! The merchant hears of trouble before their customers do: an alert when something
//! needs them, a reminder every day while it lasts, and an all-clear when it ends.
//!
//! `watch.rs` looks at the service every few seconds on the instance whose turn it is to
//! deliver (the one whose view of Clover is current) and decides what is wrong
//! ([`assess`]); `ledger.rs` remembers open alerts in the database, so that a restart
//! neither repeats nor forgets one and, of several instances, exactly one sends each;
//! `channels.rs` sends them by email and to a chat webhook.

pub mod bots;
mod channels;
pub mod digest;
pub mod ledger;
pub mod message;
mod notices;
mod watch;

use time::OffsetDateTime;

use crate::admin::Backlog;
use crate::clover::{AuthSnapshot, AuthState};

pub use channels::{Channels, SendError, smtp_transport};
pub use ledger::{AlertLedger, Raised};
pub use message::{Message, alert_words, test_message};
pub use notices::{NewSignupNotice, SignupNotices};
pub use watch::{AlertWatcher, LOOK_EVERY};

/// How long Clover may fail every delivery before the merchant is told: brief outages
/// mend themselves and are retried.
pub const CLOVER_PATIENCE: time::Duration = time::Duration::minutes(15);

/// How long a signup may wait for Clover before the merchant is told.
pub const LONGEST_WAIT: time::Duration = time::Duration::hours(1);

/// How long before the refresh token ends the merchant is told to reconnect.
pub const REFRESH_WARNING: time::Duration = time::Duration::days(14);

/// Something that needs the merchant. Each is one incident at a time: it is alerted when
/// it begins, reminded of daily, and cleared when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trouble {
    /// Clover refuses the credential, or the connection needs the merchant to reconnect,
    /// or the credential lacks a permission.
    Connection,
    /// Signups Clover will never accept as they are: they wait for the merchant.
    FailedSignups,
    /// The OAuth refresh token ends soon; after that, only a reconnect helps.
    RefreshExpiring,
    /// Clover has failed every delivery (unreachable, 5xx, unreadable answers) for
    /// longer than [`CLOVER_PATIENCE`].
    CloverUnreachable,
    /// A signup has waited for Clover longer than [`LONGEST_WAIT`], for no cause
    /// already alerted.
    SignupsWaiting,
    /// Bots turned away in the last hour, ten times the usual (see [`bots`]).
    SpamWave,
}

impl Trouble {
    pub const ALL: [Trouble; 6] = [
        Trouble::Connection,
        Trouble::FailedSignups,
        Trouble::RefreshExpiring,
        Trouble::CloverUnreachable,
        Trouble::SignupsWaiting,
        Trouble::SpamWave,
    ];

    /// The name the ledger keeps it under.
    pub fn key(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::FailedSignups => "failed_signups",
            Self::RefreshExpiring => "refresh_expiring",
            Self::CloverUnreachable => "clover_unreachable",
            Self::SignupsWaiting => "signups_waiting",
            Self::SpamWave => "spam_wave",
        }
    }
}

/// What the watcher sees of the service at one moment.
#[derive(Debug, Clone)]
pub struct Situation {
    pub auth: AuthSnapshot,
    pub queue: Backlog,
    /// Since when Clover has failed every delivery, if it does.
    pub clover_failing_since: Option<OffsetDateTime>,
    /// Bots turned away in the last hour, beside the usual.
    pub bots: bots::BotRates,
    pub now: OffsetDateTime,
}

/// What is wrong now, with the merchant's words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub trouble: Trouble,
    pub detail: String,
}

/// Decides what needs the merchant. Pure, so that every rule is tested without a clock.
pub fn assess(situation: &Situation) -> Vec<Finding> {
    let mut found: Vec<Finding> = [
        connection_refused,
        signups_failed,
        refresh_expiring,
        clover_unreachable,
        spam_wave,
    ]
    .iter()
    .filter_map(|rule| rule(situation))
    .collect();
    // A cause already alerted explains the wait: one message, not two.
    let explained = found
        .iter()
        .any(|f| matches!(f.trouble, Trouble::Connection | Trouble::CloverUnreachable));
    if !explained {
        found.extend(signups_waiting(situation));
    }
    found
}

fn connection_refused(situation: &Situation) -> Option<Finding> {
    let auth = &situation.auth;
    if auth.state == AuthState::Ok && auth.missing_permission.is_none() {
        return None;
    }
    let detail = match (&auth.missing_permission, &auth.reason) {
        (Some(missing), _) => missing.explanation().to_owned(),
        (None, Some(reason)) => reason.clone(),
        (None, None) => "Clover refuses the credential.".to_owned(),
    };
    Some(Finding {
        trouble: Trouble::Connection,
        detail,
    })
}

fn signups_failed(situation: &Situation) -> Option<Finding> {
    let failed = situation.queue.failed;
    (failed > 0).then(|| Finding {
        trouble: Trouble::FailedSignups,
        detail: format!("{failed} signup(s) could not be delivered and wait for you."),
    })
}

fn refresh_expiring(situation: &Situation) -> Option<Finding> {
    let auth = &situation.auth;
    let left = auth.refresh_expires_at? - situation.now;
    (auth.state == AuthState::Ok && left < REFRESH_WARNING).then(|| {
        let days = left.whole_days().max(0);
        Finding {
            trouble: Trouble::RefreshExpiring,
            detail: format!(
                "The connection to Clover ends in {days} day(s); reconnect before then."
            ),
        }
    })
}

fn clover_unreachable(situation: &Situation) -> Option<Finding> {
    let failing = situation.now - situation.clover_failing_since?;
    (failing > CLOVER_PATIENCE).then(|| Finding {
        trouble: Trouble::CloverUnreachable,
        detail: format!(
            "Clover has failed every delivery for {} minutes (it is unreachable \
             or answers with errors). Signups are kept and retried.",
            failing.whole_minutes()
        ),
    })
}

fn spam_wave(situation: &Situation) -> Option<Finding> {
    let bots = &situation.bots;
    bots.is_wave().then(|| Finding {
        trouble: Trouble::SpamWave,
        detail: format!(
            "{} bots were turned away in the last hour, against about {} an hour \
             usually. The form keeps them out and no signup is lost; if it goes on, \
             consider turning on the CAPTCHA (TURNSTILE_SITE_KEY and \
             TURNSTILE_SECRET_KEY).",
            bots.last_hour,
            bots.usual_per_hour.unwrap_or(0.0).round()
        ),
    })
}

fn signups_waiting(situation: &Situation) -> Option<Finding> {
    let waited = situation.now - at_ms(situation.queue.oldest_pending_at_ms?);
    (waited > LONGEST_WAIT).then(|| Finding {
        trouble: Trouble::SignupsWaiting,
        detail: format!(
            "The oldest signup has waited {} minutes for Clover.",
            waited.whole_minutes()
        ),
    })
}

/// A stored instant (Unix milliseconds).
fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation() -> Situation {
        Situation {
            auth: AuthSnapshot::ok(),
            queue: Backlog::default(),
            clover_failing_since: None,
            bots: bots::BotRates {
                last_hour: 0,
                usual_per_hour: None,
            },
            now: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        }
    }

    fn troubles(situation: &Situation) -> Vec<Trouble> {
        assess(situation).into_iter().map(|f| f.trouble).collect()
    }

    #[test]
    fn a_healthy_service_needs_nothing() {
        assert!(assess(&situation()).is_empty());
    }

    #[test]
    fn a_refused_or_unconnected_credential_is_a_connection_trouble() {
        for state in [AuthState::NeedsAuthorization, AuthState::Failing] {
            let mut now = situation();
            now.auth.state = state;
            now.auth.reason = Some("Reconnect to Clover.".into());
            let found = assess(&now);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].trouble, Trouble::Connection);
            assert_eq!(found[0].detail, "Reconnect to Clover.");
        }
    }

    #[test]
    fn failed_signups_wait_for_the_merchant() {
        let mut now = situation();
        now.queue.failed = 2;
        assert_eq!(troubles(&now), [Trouble::FailedSignups]);
    }

    #[test]
    fn a_refresh_token_ending_within_two_weeks_is_announced() {
        let mut now = situation();
        now.auth.refresh_expires_at = Some(now.now + time::Duration::days(15));
        assert!(troubles(&now).is_empty());
        now.auth.refresh_expires_at = Some(now.now + time::Duration::days(13));
        assert_eq!(troubles(&now), [Trouble::RefreshExpiring]);
    }

    #[test]
    fn clover_failing_for_more_than_fifteen_minutes_is_announced() {
        let mut now = situation();
        now.clover_failing_since = Some(now.now - time::Duration::minutes(14));
        assert!(troubles(&now).is_empty(), "a short outage mends itself");
        now.clover_failing_since = Some(now.now - time::Duration::minutes(16));
        assert_eq!(troubles(&now), [Trouble::CloverUnreachable]);
    }

    #[test]
    fn a_signup_waiting_over_an_hour_is_announced_unless_its_cause_is() {
        let mut now = situation();
        let ms = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000_000) as i64;
        now.queue.oldest_pending_at_ms = Some(ms(now.now - time::Duration::minutes(59)));
        assert!(troubles(&now).is_empty());
        now.queue.oldest_pending_at_ms = Some(ms(now.now - time::Duration::minutes(61)));
        assert_eq!(troubles(&now), [Trouble::SignupsWaiting]);
        now.auth.state = AuthState::Failing;
        assert_eq!(troubles(&now), [Trouble::Connection], "the cause, alone");
    }
}
