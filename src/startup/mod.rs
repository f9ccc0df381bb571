//! Wiring: builds every shared piece once, then the HTTP server and the delivery worker,
//! which start and stop together. `clover.rs` builds the way to Clover and its
//! credential, `server.rs` the HTTP server with its request guards, `background.rs` the
//! periodic tasks that run beside it.

mod background;
mod clover;
mod server;

use crate::alerts::smtp_transport;
use crate::consent::{ConsentLinks, ConsentRecording, PersonKeys, Withdrawn};
use crate::mail::{Composer, Mailbag, VisitorMailer};
use secrecy::ExposeSecret;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use anyhow::Context;
use tokio::sync::watch;

use crate::alerts::{AlertWatcher, Channels, SignupNotices};
use crate::captcha::Captcha;
use crate::clover::CustomerDirectory;
use crate::configuration::{CloverAuthSettings, RateLimitSettings, Settings};
use crate::delivery::{DeliveryHandle, DeliveryWorker};
use crate::events::{EventDispatcher, Events};
use crate::form_token::FormTokens;
use crate::intake::BotReason;
use crate::intake::store::BotTally;
use crate::kiosk::Kiosk;
use crate::metrics::{Metrics, MetricsAccess};
use crate::rate_limit::SubmissionLimiter;
use crate::routes::{
    AdminAccess, AppState, ClientAuth, ServiceInfo, SessionGeneration, ThemeStylesheet,
};
use crate::storage::Storage;

use background::Housekeeping;

/// How long a webhook (chat or events) may take to take a message.
const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Admin sign-in attempts per visitor address: five, then one a minute.
const LOGIN_ATTEMPTS: RateLimitSettings = RateLimitSettings {
    per_minute: NonZeroU32::new(1).unwrap(),
    burst: NonZeroU32::new(5).unwrap(),
};

pub struct Application {
    port: u16,
    server: Server,
    worker: DeliveryWorker,
    /// What the periodic tasks work on, started with the server.
    housekeeping: Housekeeping,
}

impl Application {
    /// Opens the database, builds the Clover client and binds the listener. Nothing runs
    /// until [`Application::run_until_stopped`].
    ///
    /// Long on purpose: every shared piece is built here, once, in the order each needs
    /// the others, so that what depends on what is read in one place.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        clover::announce_mode(&settings);
        let db = Storage::open(&settings.database)
            .await
            .with_context(|| format!("cannot open the {}", settings.database))?;
        // One registry for the process: each observer gets its handle here.
        let metrics = Metrics::new();
        metrics
            .intake()
            .bot_reasons(BotReason::ALL.map(BotReason::as_str));
        let (directory, connection) =
            clover::clover_connection(&settings, &db, metrics.clover()).await?;
        let handle = DeliveryHandle::default();
        // One client, one connection pool, for the chat and event webhooks.
        let webhooks = webhook_client()?;
        let (events, dispatcher) = events(&settings, &db, webhooks.clone());
        let (mailbag, mailer) = visitor_mail(&settings, &db)?;
        let withdrawn = Withdrawn::default();
        withdrawn
            .follow(&*db.consent())
            .await
            .context("cannot read the consent ledger's withdrawals")?;
        let channels = Channels::from_settings(&settings.alerts, webhooks).map(Arc::new);
        let notices = signup_notices(&settings, channels.as_ref());
        let worker = DeliveryWorker::new(
            db.queue(),
            directory.clone(),
            &settings.delivery,
            settings.clover.request_timeout,
            (handle.clone(), events.clone()),
            metrics.delivery().clone(),
        );
        let bots = BotTally::new(db.submissions());
        let demo = match &directory {
            CustomerDirectory::Demo(demo) => Some(demo.clone()),
            CustomerDirectory::Clover(_) => None,
        };
        let [limiter, login_limiter] = limiters(&settings);
        let captcha = captcha(&settings)?;
        let sessions = SessionGeneration::new(
            db.admin_sessions()
                .generation()
                .await
                .context("cannot read the admin sessions' generation")?,
        );
        let housekeeping = Housekeeping {
            alerts: alert_watcher(
                &settings,
                &db,
                &directory,
                (&handle, &events, channels.as_ref()),
            )?,
            events: dispatcher,
            mailer,
            withdrawn: withdrawn.clone(),
            db: db.clone(),
            bots: bots.clone(),
            demo,
            retention: settings.delivery.retention,
            confirmation_window: settings.consent.confirmation_window,
            limiters: [Arc::clone(&limiter), Arc::clone(&login_limiter)],
            sessions: sessions.clone(),
        };
        let state = web::Data::new(app_state(
            captcha,
            &settings,
            (db, bots, metrics),
            (directory, connection),
            (handle, events, notices, mailbag),
            [&limiter, &login_limiter],
            (sessions, withdrawn),
        ));
        let (server, port) = server::start(&settings, state, &limiter)?;
        Ok(Self {
            port,
            server,
            worker,
            housekeeping,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (and with it the worker) from elsewhere, as SIGTERM does.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves and delivers until the server stops (SIGTERM: gracefully), then lets the
    /// worker finish what it has under way.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(self.worker.run(stopped));
        let housekeeping = self.housekeeping.start();
        // The worker winds down beside the server, from the signal on, not after it: the
        // two graces together must fit in the platform's kill timeout.
        let stop = Arc::new(stop);
        let on_signal = background::stop_on_signal(Arc::clone(&stop));
        let served = self.server.await;
        housekeeping.stop().await;
        on_signal.abort();
        let _ = stop.send(true);
        worker
            .await
            .context("the delivery worker panicked")?
            .context("the delivery worker stopped")?;
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The events for the event webhook, and what sends them, when one is set.
fn events(
    settings: &Settings,
    db: &Storage,
    http: reqwest::Client,
) -> (Events, Option<EventDispatcher>) {
    let Some(webhook) = &settings.alerts.events else {
        return (Events::default(), None);
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    let dispatcher = EventDispatcher {
        outbox: db.events(),
        http,
        url: webhook.url.clone(),
        secret: webhook.secret.clone(),
        wake: Arc::clone(&wake),
    };
    (
        Events::new(db.events(), webhook.personal_data, wake),
        Some(dispatcher),
    )
}

/// The emails to visitors: where the routes post them, and the sender; both only when
/// some email goes to visitors (the configuration then has a mail server).
fn visitor_mail(
    settings: &Settings,
    db: &Storage,
) -> anyhow::Result<(Mailbag, Option<VisitorMailer>)> {
    let consent = &settings.consent;
    let (Some(server), true) = (&settings.alerts.mail, consent.emails_visitors()) else {
        return Ok((Mailbag::default(), None));
    };
    let transport = smtp_transport(server.smtp_url.expose_secret())
        .map_err(|error| anyhow::anyhow!("SMTP_URL: {error}"))?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let mailer = VisitorMailer {
        outbox: db.mail(),
        ledger: db.consent(),
        transport,
        from: server.from.clone(),
        composer: Composer {
            links: consent_links(settings),
            merchant_name: settings.form.branding.merchant_name.clone(),
            postal_address: consent.postal_address.clone().unwrap_or_default(),
            welcome: consent.welcome.clone(),
            confirmation_days: consent.confirmation_window.as_secs() / 86_400,
        },
        wake: Arc::clone(&wake),
    };
    Ok((Mailbag::new(db.mail(), wake), Some(mailer)))
}

fn consent_links(settings: &Settings) -> ConsentLinks {
    ConsentLinks::new(settings.secret_key.as_ref(), &settings.server.public_url)
}

fn webhook_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .context("cannot build the webhooks' client")
}

/// `MERCHANT_NAME`, or the service's name: the subject line's tag.
fn shop_name(settings: &Settings) -> String {
    (settings.form.branding.merchant_name.clone()).unwrap_or_else(|| "clover-signup".to_owned())
}

/// A message for every new signup, when the merchant asked for it.
fn signup_notices(
    settings: &Settings,
    channels: Option<&Arc<Channels>>,
) -> Option<Arc<SignupNotices>> {
    let channels = channels.filter(|_| settings.alerts.each_signup)?;
    Some(Arc::new(SignupNotices {
        channels: Arc::clone(channels),
        shop: shop_name(settings),
        full_email: settings.alerts.full_email,
    }))
}

/// What tells the merchant of trouble, when an alert channel or the event webhook is set.
fn alert_watcher(
    settings: &Settings,
    db: &Storage,
    directory: &CustomerDirectory,
    (delivery, events, channels): (&DeliveryHandle, &Events, Option<&Arc<Channels>>),
) -> anyhow::Result<Option<AlertWatcher>> {
    if channels.is_none() && settings.alerts.events.is_none() {
        return Ok(None);
    }
    let admin_url = settings.server.public_url.join("admin")?.to_string();
    Ok(Some(AlertWatcher {
        ledger: db.alerts(),
        statistics: db.statistics(),
        directory: directory.clone(),
        delivery: delivery.clone(),
        events: events.clone(),
        channels: channels.cloned(),
        digests: db.digests(),
        digest: settings.alerts.digest.clone(),
        bot_history: Default::default(),
        shop: shop_name(settings),
        admin_url,
    }))
}

/// The submission limiter and the admin sign-in limiter, both per visitor address.
fn limiters(settings: &Settings) -> [Arc<SubmissionLimiter>; 2] {
    [&settings.rate_limit, &LOGIN_ATTEMPTS].map(|limits| {
        Arc::new(SubmissionLimiter::new(
            limits,
            settings.server.client_ip_header.clone(),
        ))
    })
}

/// The CAPTCHA client, when the form asks for one.
fn captcha(settings: &Settings) -> anyhow::Result<Option<Captcha>> {
    let captcha = settings.form.captcha.clone().map(Captcha::new).transpose();
    captcha.context("cannot build the CAPTCHA client")
}

/// What the handlers share, built once.
fn app_state(
    captcha: Option<Captcha>,
    settings: &Settings,
    // The database and what is counted in memory: bots until flushed, the metrics.
    (db, bots, metrics): (Storage, BotTally, Metrics),
    (directory, connection): (CustomerDirectory, ClientAuth),
    // Who hears of a signup: the worker, the event webhook, the merchant, the visitor.
    (delivery, events, notices, mail): (
        DeliveryHandle,
        Events,
        Option<Arc<SignupNotices>>,
        Mailbag,
    ),
    [limiter, login_limiter]: [&Arc<SubmissionLimiter>; 2],
    // Shared state followed from the database: admin sessions, withdrawals.
    (sessions, withdrawn): (SessionGeneration, Withdrawn),
) -> AppState {
    let clover = &settings.clover;
    let demo = matches!(clover.auth, CloverAuthSettings::Demo);
    let kiosk = Kiosk::new(settings.kiosk, db.kiosks());
    AppState {
        db,
        bots,
        form: settings.form.clone(),
        limiter: Arc::clone(limiter),
        login_limiter: Arc::clone(login_limiter),
        form_tokens: FormTokens::new(settings.secret_key.as_ref(), settings.form.min_fill),
        captcha,
        delivery,
        events,
        notices,
        directory,
        connection,
        admin: AdminAccess::new(
            settings.admin.token.clone(),
            demo && settings.server.host.is_loopback(),
            settings.secret_key.as_ref(),
            settings.server.public_url.scheme() == "https",
            Arc::clone(login_limiter),
            sessions,
        ),
        metrics,
        // Wrong metrics tokens count with wrong admin tokens, per address.
        metrics_access: MetricsAccess::new(
            settings.metrics.token.clone(),
            Arc::clone(login_limiter),
        ),
        info: ServiceInfo {
            mode: clover.auth.mode(),
            environment: clover.environment.as_str(),
            region: clover.region.as_str(),
            duplicate_policy: settings.delivery.duplicate_policy.as_str(),
            time_zone: settings.alerts.digest.time_zone.clone(),
            public_url: settings.server.public_url.clone(),
        },
        theme_css: ThemeStylesheet::new(&settings.form.branding.theme),
        consent: ConsentRecording {
            keys: PersonKeys::new(settings.secret_key.as_ref()),
            ip: settings.consent.ip,
        },
        links: consent_links(settings),
        mail,
        withdrawn,
        consent_settings: settings.consent.clone(),
        form_pages: Default::default(),
        kiosk,
    }
}
