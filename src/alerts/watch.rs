//! The look every few seconds: what is wrong now, against what the ledger holds open.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::bots::BotHistory;
use super::digest::{DigestFacts, DigestLedger, compose_digest, last_period};
use super::message::{Facts, Occasion, compose};
use super::{AlertLedger, Channels, Finding, Raised, Situation, Trouble, assess};
use crate::admin::{Backlog, Statistics};
use crate::clover::CustomerDirectory;
use crate::configuration::{Cadence, DigestSettings};
use crate::delivery::DeliveryHandle;
use crate::events::{EventKind, Events};
use crate::storage::now_ms;

/// How often the service is looked at: an alert goes out within this of its trouble.
pub const LOOK_EVERY: Duration = Duration::from_secs(10);
/// While a trouble lasts, the merchant is reminded this often.
const REMIND_EVERY: Duration = Duration::from_secs(24 * 3600);

pub struct AlertWatcher {
    pub ledger: Arc<dyn AlertLedger>,
    pub statistics: Arc<dyn Statistics>,
    pub directory: CustomerDirectory,
    /// Whether this instance delivers: only its view of Clover is current.
    pub delivery: DeliveryHandle,
    /// `None` when only the event webhook is set: then only events are recorded.
    pub channels: Option<Arc<Channels>>,
    /// The digests sent, and the counts they are made of.
    pub digests: Arc<dyn DigestLedger>,
    pub digest: DigestSettings,
    /// The bots' stored totals over the last day, for what is usual.
    pub bot_history: std::sync::Mutex<BotHistory>,
    pub events: Events,
    /// `MERCHANT_NAME`, or the service's name, in every subject.
    pub shop: String,
    pub admin_url: String,
}

impl AlertWatcher {
    /// One look. Quiet while another instance delivers, and while the database does not
    /// answer (the delivery worker tells of that).
    pub async fn look(&self) {
        if !self.delivery.delivering() {
            return;
        }
        let Ok(queue) = self.statistics.backlog().await else {
            return;
        };
        let Ok(bots) = self.statistics.bot_counts().await else {
            return;
        };
        let bots_total: u64 = bots.values().sum();
        let now = OffsetDateTime::now_utc();
        let bots = self
            .bot_history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now, bots_total);
        let situation = Situation {
            auth: self.directory.auth(),
            queue,
            bots,
            clover_failing_since: self.delivery.clover_failing_since(),
            now,
        };
        let found = assess(&situation);
        for trouble in Trouble::ALL {
            match found.iter().find(|finding| finding.trouble == trouble) {
                Some(finding) => self.raise(finding, queue.pending).await,
                None if self.seen_over(trouble, &situation) => {
                    self.clear(trouble, queue.pending).await;
                }
                None => {}
            }
        }
        if let Some(channels) = &self.channels {
            self.send_digest(channels, queue, bots_total).await;
        }
    }

    /// The digest of the last period, once: claimed first, so that of several instances
    /// (or before and after a restart) one sends it; released if it could not be sent.
    async fn send_digest(&self, channels: &Channels, backlog: Backlog, bots_total: u64) {
        let Some(period) = last_period(jiff::Timestamp::now(), &self.digest) else {
            return;
        };
        let Ok(Some(bots_before)) = self.digests.claim(&period.key, now_ms(), bots_total).await
        else {
            return;
        };
        let (from, to) = period.previous();
        let counts = (
            self.digests.counts(period.start_ms, period.end_ms).await,
            self.digests.counts(from, to).await,
            (self.statistics)
                .signups_per_source(period.start_ms, period.end_ms)
                .await,
        );
        let (Ok(now), Ok(before), Ok(sources)) = counts else {
            let _ = self.digests.release(&period.key).await;
            return;
        };
        let facts = DigestFacts {
            shop: &self.shop,
            daily: self.digest.cadence == Cadence::Daily,
            period: &period,
            now,
            before,
            backlog,
            bots: bots_before.map(|before| bots_total.saturating_sub(before)),
            sources: &sources,
            admin_url: &self.admin_url,
        };
        if facts.is_quiet() && !self.digest.when_quiet {
            tracing::debug!(period = %period.key, "nothing to say: no digest");
            return;
        }
        match channels.send(&compose_digest(&facts)).await {
            Ok(()) => tracing::info!(period = %period.key, "digest sent"),
            Err(error) => {
                tracing::error!(%error, period = %period.key, "digest not sent; trying again");
                let _ = self.digests.release(&period.key).await;
            }
        }
    }

    /// Whether this process has seen for itself that `trouble` is over. The credential's
    /// state after a restart, Clover's failures and the bots' history start afresh in
    /// memory: an all-clear for them waits for evidence (a delivery that went through,
    /// an hour of bot counts), or a restart would clear a trouble that goes on.
    fn seen_over(&self, trouble: Trouble, situation: &Situation) -> bool {
        match trouble {
            Trouble::Connection | Trouble::CloverUnreachable => {
                self.delivery.clover_answered_once()
            }
            Trouble::SpamWave => situation.bots.usual_per_hour.is_some(),
            Trouble::FailedSignups | Trouble::RefreshExpiring | Trouble::SignupsWaiting => true,
        }
    }

    async fn raise(&self, finding: &Finding, waiting: u64) {
        let now = now_ms();
        let trouble = finding.trouble;
        let Ok(Some(raised)) = self.ledger.raise(trouble, now, REMIND_EVERY).await else {
            return;
        };
        let (occasion, since) = match raised {
            Raised::Opened => (Occasion::Opened, now),
            Raised::Reminder { opened_at_ms } => (Occasion::Reminder, opened_at_ms),
        };
        if let Some(channels) = &self.channels {
            let message = compose(&self.facts(trouble, Some(finding), occasion, since, waiting));
            if let Err(error) = channels.send(&message).await {
                tracing::error!(%error, trouble = trouble.key(), "alert not sent; trying again");
                let _ = self.ledger.unsend(trouble, raised).await;
                return;
            }
            tracing::info!(trouble = trouble.key(), "alert sent");
        }
        if trouble == Trouble::Connection && raised == Raised::Opened {
            (self.events)
                .connection(EventKind::ConnectionNeedsAttention, Some(&finding.detail))
                .await;
        }
    }

    async fn clear(&self, trouble: Trouble, waiting: u64) {
        let Ok(Some(opened_at_ms)) = self.ledger.clear(trouble).await else {
            return;
        };
        if trouble == Trouble::Connection {
            (self.events)
                .connection(EventKind::ConnectionRestored, None)
                .await;
        }
        let Some(channels) = &self.channels else {
            return;
        };
        let message =
            compose(&self.facts(trouble, None, Occasion::AllClear, opened_at_ms, waiting));
        match channels.send(&message).await {
            Ok(()) => tracing::info!(trouble = trouble.key(), "all-clear sent"),
            // The trouble is over either way; an all-clear is not worth repeating.
            Err(error) => tracing::warn!(%error, trouble = trouble.key(), "all-clear not sent"),
        }
    }

    fn facts<'a>(
        &'a self,
        trouble: Trouble,
        finding: Option<&'a Finding>,
        occasion: Occasion,
        since_ms: i64,
        waiting: u64,
    ) -> Facts<'a> {
        let since = OffsetDateTime::from_unix_timestamp_nanos(i128::from(since_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Facts {
            shop: &self.shop,
            trouble,
            finding,
            occasion,
            since,
            waiting,
            admin_url: &self.admin_url,
        }
    }
}
