//! What the admin page and `/admin/status.json` show: the open alerts, the deployment,
//! the Clover connection, the queue, signups per day and the time they took to reach
//! Clover, the bots turned away and the latest submissions (emails masked).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::dashboard::{DayCount, chart_start, per_day};
use super::{
    DeliveryTimes, QueueCounts, SourceCount, Statistics, SubmissionState, SubmissionSummary,
};
use crate::clover::{AuthSnapshot, AuthState};
use crate::configuration::AuthMode;
use crate::domain::mask_email;
use crate::intake::store::BotTally;
use crate::storage::StorageError;

/// How many submissions the page lists.
const RECENT_SUBMISSIONS: u32 = 50;
/// How long before the refresh token's end the page warns the merchant.
const REFRESH_WARNING_DAYS: i64 = 14;

/// Facts about this deployment shown on the status page.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub mode: AuthMode,
    pub environment: &'static str,
    pub region: &'static str,
    pub duplicate_policy: &'static str,
    /// `TIMEZONE`: the days the chart counts in, the digest's.
    pub time_zone: jiff::tz::TimeZone,
    /// `PUBLIC_URL`: where visitors find the form, as QR codes and pairing links name it.
    pub public_url: url::Url,
}

/// The merchant's words for an open alert, from `alerts` (which words its messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertWords {
    pub headline: &'static str,
    pub what_to_do: &'static str,
}

/// The status of the service as `/admin/status.json` reports it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub mode: AuthMode,
    pub merchant_id: Option<String>,
    pub environment: &'static str,
    pub region: &'static str,
    pub duplicate_policy: &'static str,
    pub auth: AuthReport,
    /// Unknown while the database does not answer.
    pub queue: Option<QueueCounts>,
    /// Submissions turned away as bots, by reason (honeypot, bad_token, too_fast).
    pub bots: BTreeMap<String, u64>,
    pub recent: Vec<RecentSubmission>,
    /// The troubles alerted and not over, oldest first.
    pub alerts: Vec<AlertReport>,
    /// The zone `signups_per_day` counts days in (IANA name, or `UTC`).
    pub time_zone: String,
    /// Signups received on each of the last 30 days, oldest first, today last.
    pub signups_per_day: Vec<DayCount>,
    /// From signup to Clover, over the signups of the last 30 days that were delivered.
    pub time_to_clover: Option<DeliveryTimes>,
    /// Signups of the last 30 days by where they came from, most first.
    pub sources: Vec<SourceCount>,
}

#[derive(Debug, Serialize)]
pub struct AlertReport {
    /// The ledger's key, such as `failed_signups`.
    pub trouble: String,
    pub opened_at: String,
    pub headline: String,
    pub what_to_do: String,
}

#[derive(Debug, Serialize)]
pub struct AuthReport {
    pub state: AuthState,
    pub reason: Option<String>,
    pub access_expires_at: Option<String>,
    pub refresh_expires_at: Option<String>,
    pub last_refresh_at: Option<String>,
    /// The refresh token ends within two weeks: the merchant should reconnect before.
    pub refresh_expires_soon: bool,
    /// The permission delivery is parked on, when the credential works but lacks one
    /// (`customers_write`, `customer_email_addresses_read`).
    pub missing_permission: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct RecentSubmission {
    pub id: String,
    pub received_at: String,
    /// Masked: the admin page is a status page, not a customer list.
    pub email: String,
    pub state: SubmissionState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub clover_customer_id: Option<String>,
    pub outcome: Option<&'static str>,
}

/// The report from the stored numbers, the bots counted in memory, and the credential's
/// state as it is now. `words` names each open alert's trouble in the merchant's words.
pub async fn status_report(
    info: &ServiceInfo,
    statistics: &dyn Statistics,
    bots: &BotTally,
    auth: AuthSnapshot,
    words: fn(&str) -> Option<AlertWords>,
) -> Result<StatusReport, StorageError> {
    let queue = statistics.queue_counts().await?;
    let recent = statistics.recent_submissions(RECENT_SUBMISSIONS).await?;
    let bots = bots.with_stored(statistics.bot_counts()).await?;
    let alerts = statistics.open_alerts().await?;
    let mut report = without_database(info, auth);
    if let Some((first, from_ms)) = chart_start(jiff::Timestamp::now(), &info.time_zone) {
        let per_quarter = statistics.received_per_quarter_hour(from_ms).await?;
        report.signups_per_day = per_day(&per_quarter, first, &info.time_zone);
        report.time_to_clover = Some(statistics.delivery_times(from_ms).await?);
        report.sources = statistics.signups_per_source(from_ms, i64::MAX).await?;
    }
    report.queue = Some(queue);
    report.bots = bots;
    report.recent = recent.into_iter().map(recent_submission).collect();
    report.alerts = alerts
        .into_iter()
        .map(|alert| {
            let named = words(&alert.trouble);
            AlertReport {
                headline: named.map_or_else(|| alert.trouble.clone(), |w| capitalised(w.headline)),
                what_to_do: named.map(|w| w.what_to_do.to_owned()).unwrap_or_default(),
                opened_at: at_ms(alert.opened_at_ms),
                trouble: alert.trouble,
            }
        })
        .collect();
    Ok(report)
}

/// What can be told while the database does not answer: the deployment and the
/// credential, which are kept in memory; the queue is unknown.
pub fn without_database(info: &ServiceInfo, auth: AuthSnapshot) -> StatusReport {
    StatusReport {
        mode: info.mode,
        merchant_id: auth.merchant_id.clone(),
        environment: info.environment,
        region: info.region,
        duplicate_policy: info.duplicate_policy,
        auth: AuthReport {
            state: auth.state,
            reason: auth.reason,
            access_expires_at: auth.access_expires_at.and_then(rfc3339),
            refresh_expires_at: auth.refresh_expires_at.and_then(rfc3339),
            last_refresh_at: auth.last_refresh_at.and_then(rfc3339),
            refresh_expires_soon: auth.refresh_expires_at.is_some_and(|at| {
                at - OffsetDateTime::now_utc() < time::Duration::days(REFRESH_WARNING_DAYS)
            }),
            missing_permission: auth.missing_permission.map(|missing| missing.code()),
        },
        queue: None,
        bots: BTreeMap::new(),
        recent: Vec::new(),
        alerts: Vec::new(),
        time_zone: info.time_zone.iana_name().unwrap_or("UTC").to_owned(),
        signups_per_day: Vec::new(),
        time_to_clover: None,
        sources: Vec::new(),
    }
}

fn recent_submission(row: SubmissionSummary) -> RecentSubmission {
    RecentSubmission {
        id: row.id.to_string(),
        received_at: at_ms(row.received_at_ms),
        email: if row.email.is_empty() {
            "(erased)".to_owned()
        } else {
            mask_email(&row.email)
        },
        state: row.state,
        attempts: row.attempts,
        last_error: row.last_error,
        clover_customer_id: row.clover_customer_id,
        outcome: row.outcome.map(|o| o.as_str()),
    }
}

/// `text` with its first letter in capitals, for a phrase that starts a sentence.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A stored instant (Unix milliseconds) in RFC 3339.
pub fn at_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(rfc3339)
        .unwrap_or_default()
}

fn rfc3339(moment: OffsetDateTime) -> Option<String> {
    moment.format(&Rfc3339).ok()
}
