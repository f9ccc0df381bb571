//! What runs beside the server: the periodic tasks (rate-limit pruning, retention, admin
//! session generations, bot-count flushes, alerts) and the wait for a stop signal.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::{AlertWatcher, LOOK_EVERY};
use crate::clover::DemoClover;
use crate::consent::{FOLLOW_EVERY, Withdrawn};
use crate::events::EventDispatcher;
use crate::intake::store::BotTally;
use crate::mail::VisitorMailer;
use crate::rate_limit::{PRUNE_INTERVAL, SubmissionLimiter};
use crate::routes::SessionGeneration;
use crate::storage::Storage;
use crate::tasks::{Periodic, spawn_periodic};

/// How soon a sign-out on another instance ends the sessions this one accepts.
const SESSION_GENERATION_POLL: Duration = Duration::from_secs(5);
/// How often the bots counted in memory are written to the database.
const BOT_COUNT_FLUSH: Duration = Duration::from_secs(5);
/// How often delivered submissions are checked against `DATA_RETENTION_DAYS`.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// What the periodic tasks work on, gathered at start and started with the server.
pub(super) struct Housekeeping {
    /// Looks for trouble and tells the merchant, when a channel is set.
    pub(super) alerts: Option<AlertWatcher>,
    /// Sends the event webhook's events, when one is set.
    pub(super) events: Option<EventDispatcher>,
    /// Sends the emails to visitors, when any is on.
    pub(super) mailer: Option<VisitorMailer>,
    /// Who has withdrawn, followed from the ledger as other instances record.
    pub(super) withdrawn: Withdrawn,
    pub(super) db: Storage,
    /// Bots turned away, counted in memory by the routes and written by a periodic flush.
    pub(super) bots: BotTally,
    /// The demo stand-in, whose customers are erased with the retention period too.
    pub(super) demo: Option<DemoClover>,
    pub(super) retention: Duration,
    /// `CONFIRMATION_DAYS`: how long a signup waits for its confirmation.
    pub(super) confirmation_window: Duration,
    /// Submissions and admin sign-ins, pruned together.
    pub(super) limiters: [Arc<SubmissionLimiter>; 2],
    /// The admin sessions' generation, taken up from the database as it moves on.
    pub(super) sessions: SessionGeneration,
}

/// The periodic tasks under way, until [`Running::stop`].
pub(super) struct Running {
    pruner: Periodic,
    retention: Periodic,
    sessions: Periodic,
    bot_counts: Periodic,
    bots: BotTally,
    alerts: Option<Periodic>,
    events: Option<JoinHandle<()>>,
    mailer: Option<JoinHandle<()>>,
    withdrawals: Periodic,
}

impl Housekeeping {
    pub(super) fn start(self) -> Running {
        let limiters = self.limiters;
        let pruner = spawn_periodic("rate limit pruning", PRUNE_INTERVAL, move || {
            limiters.iter().for_each(|limiter| limiter.prune());
            std::future::ready(())
        });
        let retention = spawn_periodic("retention", RETENTION_SWEEP, {
            let (db, demo) = (self.db.clone(), self.demo);
            let periods = (self.retention, self.confirmation_window);
            move || erase_old_personal_data(db.clone(), demo.clone(), periods)
        });
        let sessions = spawn_periodic("admin sessions", SESSION_GENERATION_POLL, {
            let (db, sessions) = (self.db.clone(), self.sessions);
            move || follow_admin_sessions(db.clone(), sessions.clone())
        });
        // A flush, once begun, is never cut off: it has taken the counts it writes.
        let bot_counts = spawn_periodic("bot counts", BOT_COUNT_FLUSH, {
            let bots = self.bots.clone();
            move || flush_bot_counts(bots.clone())
        });
        let alerts = self.alerts.map(|watcher| {
            let watcher = Arc::new(watcher);
            spawn_periodic("alerts", LOOK_EVERY, move || {
                let watcher = Arc::clone(&watcher);
                async move { watcher.look().await }
            })
        });
        let events = self.events.map(EventDispatcher::spawn);
        let mailer = self.mailer.map(VisitorMailer::spawn);
        let withdrawals = spawn_periodic("withdrawals", FOLLOW_EVERY, {
            let (db, withdrawn) = (self.db.clone(), self.withdrawn);
            move || follow_withdrawals(db.clone(), withdrawn.clone())
        });
        Running {
            alerts,
            events,
            mailer,
            withdrawals,
            pruner,
            retention,
            sessions,
            bot_counts,
            bots: self.bots,
        }
    }
}

impl Running {
    /// Once the server has stopped, every request has been answered: the last bots
    /// counted are written now, and the other tasks are cut off.
    pub(super) async fn stop(self) {
        self.bot_counts.stop().await;
        flush_bot_counts(self.bots).await;
        self.retention.abort();
        self.sessions.abort();
        self.pruner.abort();
        if let Some(alerts) = self.alerts {
            alerts.abort();
        }
        // What was not sent stays in the outbox for the next start or another instance.
        if let Some(events) = self.events {
            events.abort();
        }
        if let Some(mailer) = self.mailer {
            mailer.abort();
        }
        self.withdrawals.abort();
    }
}

/// Sends `stop` on SIGTERM or SIGINT, as the server itself stops on them.
pub(super) fn stop_on_signal(stop: Arc<watch::Sender<bool>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if stop_signal().await {
            tracing::info!("shutting down: finishing requests and deliveries under way");
            let _ = stop.send(true);
        }
    })
}

/// Waits for SIGTERM or SIGINT (the server stops on them too). False if they cannot be
/// listened for, in which case the worker stops once the server has.
#[cfg(unix)]
async fn stop_signal() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return false;
    };
    tokio::select! {
        _ = terminate.recv() => true,
        _ = interrupt.recv() => true,
    }
}

#[cfg(not(unix))]
async fn stop_signal() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}

/// Takes up sign-outs made on other instances (the generation they moved on).
async fn follow_admin_sessions(db: Storage, sessions: SessionGeneration) {
    match db.admin_sessions().generation().await {
        Ok(generation) => sessions.advance_to(generation),
        Err(error) => tracing::warn!(%error, "could not read the admin sessions' generation"),
    }
}

/// Every few seconds: takes up the withdrawals and erasures recorded since, here or on
/// another instance. A database away is the delivery worker's to tell of.
async fn follow_withdrawals(db: Storage, withdrawn: Withdrawn) {
    if let Err(error) = withdrawn.follow(&*db.consent()).await {
        tracing::debug!(%error, "could not follow the withdrawals");
    }
}

/// Every few seconds, and once more when the server has stopped: writes the bots counted
/// in memory. A write per bot let a flood slow every visitor's signup down.
async fn flush_bot_counts(bots: BotTally) {
    if let Err(error) = bots.flush().await {
        tracing::error!(%error, "could not store the bot counts; they are kept for the next try");
    }
}

/// At start, then hourly: erase the personal data of submissions delivered longer ago
/// than the retention period. Clover keeps the customer; this service keeps no copy of
/// the signup. The demo stand-in's customers made before the cutoff go too: unlike
/// Clover's, they are this service's own copy of visitors' data. The evidence of a
/// consent stays while the consent stands (it is what proves it), and goes the same
/// period after it was withdrawn. A signup never confirmed goes once its confirmation
/// window has passed.
async fn erase_old_personal_data(
    db: Storage,
    demo: Option<DemoClover>,
    (retention, confirmation_window): (Duration, Duration),
) {
    let now = crate::storage::now_ms();
    let cutoff = now - retention.as_millis() as i64;
    let unconfirmed_cutoff = now - confirmation_window.as_millis() as i64;
    let erased = async {
        let customers = match &demo {
            Some(demo) => demo.erase_before(cutoff).await?,
            None => 0,
        };
        let submissions = db.queue().erase_delivered_before(cutoff).await?;
        // Abandoned events may carry personal data (when the merchant opted in).
        let events = db.events().forget_abandoned_before(cutoff).await?;
        let evidence = crate::consent::forget_ended(&*db.consent(), cutoff).await?;
        let mails = db.mail().forget_settled_before(cutoff).await?;
        let unconfirmed = db
            .submissions()
            .forget_held_before(unconfirmed_cutoff)
            .await?;
        Ok::<_, crate::storage::StorageError>(
            customers + submissions + events + evidence as usize + mails + unconfirmed,
        )
    };
    match erased.await {
        Ok(0) => {}
        Ok(erased) => tracing::info!(erased, "personal data past its retention was erased"),
        Err(error) => tracing::error!(%error, "could not erase old personal data"),
    }
}
