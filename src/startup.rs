//! Wiring: builds every shared piece once, then the HTTP server and the delivery worker,
//! which start and stop together.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use secrecy::SecretString;
use tokio::sync::watch;
use url::Url;

use crate::captcha::Captcha;
use crate::clover::oauth::{OAuthApi, OAuthApp, OAuthCredential, PendingConnects};
use crate::clover::vault::{EnteredToken, env_token_digest};
use crate::clover::{
    Access, CloverClient, Credential, CustomerDirectory, DemoClover, EnteredTokens, MerchantId,
    StaticToken,
};
use crate::configuration::{CloverAuthSettings, OAuthSettings, RateLimitSettings, Settings};
use crate::delivery::{DeliveryHandle, DeliveryWorker};
use crate::form_token::FormTokens;
use crate::intake::store::BotTally;
use crate::origin_check::{TrustedOrigins, check_host, check_origin};
use crate::rate_limit::{
    ConnectionLimit, InFlightLimit, PRUNE_INTERVAL, SubmissionLimiter, limit_per_address,
};
use crate::request_deadline::{RequestDeadline, enforce_deadline};
use crate::routes::{
    self, AdminAccess, AppState, ClientAuth, OAuthConnector, ServiceInfo, SessionGeneration,
    ThemeStylesheet, TokenAdmin,
};
use crate::security_headers::{PagePolicy, SecurityHeaders, add_security_headers};
use crate::storage::{SecretCipher, Storage};
use crate::tasks::spawn_periodic;
use crate::telemetry;

/// The largest request body accepted. A usual signup is a few hundred bytes; the longest
/// valid one (a 1,000-unit note and a 4 × 127-unit address in a script that takes three
/// UTF-8 bytes a character, each percent-encoded to nine, plus a 2 KiB CAPTCHA token) is
/// about 18 KiB.
const MAX_BODY_BYTES: usize = 32 * 1024;
/// Admin sign-in attempts per visitor address: five, then one a minute.
const LOGIN_ATTEMPTS: RateLimitSettings = RateLimitSettings {
    per_minute: NonZeroU32::new(1).unwrap(),
    burst: NonZeroU32::new(5).unwrap(),
};
/// Below the platform's kill timeout (30 s in fly.toml), so connections close cleanly.
const SHUTDOWN_TIMEOUT_SECS: u64 = 25;
/// A client must send its request head within this, or the connection is closed
/// (slow-header attacks).
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle keep-alive connections are closed after this.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    worker: DeliveryWorker,
    db: Storage,
    /// Bots turned away, counted in memory by the routes and written by a periodic flush.
    bots: BotTally,
    /// The demo stand-in, whose customers are erased with the retention period too.
    demo: Option<DemoClover>,
    retention: Duration,
    /// Submissions and admin sign-ins, pruned together.
    limiters: [Arc<SubmissionLimiter>; 2],
    /// The admin sessions' generation, taken up from the database as it moves on.
    sessions: SessionGeneration,
}

impl Application {
    /// Opens the database, builds the Clover client and binds the listener. Nothing runs
    /// until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        announce_mode(&settings);
        let db = Storage::open(&settings.database)
            .await
            .with_context(|| format!("cannot open the {}", settings.database))?;
        let (directory, connection) = clover_connection(&settings, &db).await?;
        let handle = DeliveryHandle::default();
        let worker = DeliveryWorker::new(
            db.queue(),
            directory.clone(),
            &settings.delivery,
            settings.clover.request_timeout,
            handle.clone(),
        );
        let retention_db = db.clone();
        let bots = BotTally::new(db.submissions());
        let demo = match &directory {
            CustomerDirectory::Demo(demo) => Some(demo.clone()),
            CustomerDirectory::Clover(_) => None,
        };
        let limiter = Arc::new(SubmissionLimiter::new(
            &settings.rate_limit,
            settings.server.client_ip_header.clone(),
        ));
        let login_limiter = Arc::new(SubmissionLimiter::new(
            &LOGIN_ATTEMPTS,
            settings.server.client_ip_header.clone(),
        ));
        let captcha = match settings.form.captcha.clone() {
            Some(captcha) => {
                Some(Captcha::new(captcha).context("cannot build the CAPTCHA client")?)
            }
            None => None,
        };
        let sessions = SessionGeneration::new(
            db.admin_sessions()
                .generation()
                .await
                .context("cannot read the admin sessions' generation")?,
        );
        let state = web::Data::new(app_state(
            captcha,
            &settings,
            (db, bots.clone()),
            (directory, connection),
            handle,
            [&limiter, &login_limiter],
            sessions.clone(),
        ));

        let address = (settings.server.host, settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("cannot listen on {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let branding = &settings.form.branding;
        let origin_of =
            |url: &Option<url::Url>| url.as_ref().map(|u| u.origin().ascii_serialization());
        let security_headers = web::Data::new(SecurityHeaders::new(&PagePolicy {
            frame_ancestors: &settings.server.frame_ancestors,
            https: settings.server.public_url.scheme() == "https",
            captcha: settings.form.captcha.is_some(),
            logo_origin: origin_of(&branding.logo_url),
            redirect_origin: origin_of(&branding.success_redirect_url),
        }));
        // The loopback names are this machine's own: answered when listening there, or
        // when PUBLIC_URL itself is on loopback (a container reached as localhost).
        let public_on_loopback = public_url_on_loopback(&settings.server.public_url);
        if !settings.server.host.is_loopback() && public_on_loopback {
            tracing::warn!(
                "PUBLIC_URL is {}: requests for any other host name are refused (421); set \
                 PUBLIC_URL to the address visitors use",
                settings.server.public_url
            );
        }
        let trusted = web::Data::new(TrustedOrigins::new(
            &settings.server.public_url,
            &settings.server.allowed_origins,
            (settings.server.host.is_loopback() || public_on_loopback).then_some(port),
        ));
        let api_origins = settings.server.allowed_origins.clone();
        let deadline = web::Data::new(RequestDeadline(settings.server.request_timeout));
        // MAX_CONNECTIONS_PER_ADDRESS: behind a proxy every connection is the proxy's, so
        // the cap is on each visitor's requests in flight (the proxy bounds connections);
        // without one, on each peer address's open connections.
        let per_address = settings.server.max_connections_per_address;
        let (in_flight, connections) = match settings.server.client_ip_header {
            Some(_) => (
                Some(web::Data::new(InFlightLimit::new(
                    per_address,
                    Arc::clone(&limiter),
                ))),
                None,
            ),
            None => (None, Some(Arc::new(ConnectionLimit::new(per_address)))),
        };
        // MAX_CONNECTIONS is for the whole process; actix counts per worker.
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let per_worker = settings.server.max_connections.div_ceil(workers).max(1);
        let server = HttpServer::new(move || {
            let app = App::new()
                .wrap(from_fn(enforce_deadline))
                .wrap(from_fn(limit_per_address))
                .wrap(from_fn(check_origin))
                .wrap(from_fn(check_host))
                .wrap(from_fn(add_security_headers))
                .wrap(from_fn(telemetry::request_log))
                .app_data(state.clone())
                .app_data(security_headers.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES))
                .app_data(trusted.clone())
                .app_data(deadline.clone());
            match &in_flight {
                Some(in_flight) => app.app_data(in_flight.clone()),
                None => app,
            }
            .configure(|cfg| routes::configure(cfg, &api_origins))
        })
        // Before `listen`: a listener takes the callback in force when it is added.
        .on_connect(move |connection, extensions| {
            if let Some(connections) = &connections {
                connections.on_connect(connection, extensions);
            }
        })
        .listen(listener)?
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .keep_alive(KEEP_ALIVE)
        .workers(workers)
        .max_connections(per_worker)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .run();
        tracing::info!(
            "listening on http://{}:{port} (visitors use {})",
            settings.server.host,
            settings.server.public_url
        );
        Ok(Self {
            port,
            server,
            worker,
            db: retention_db,
            bots,
            demo,
            retention: settings.delivery.retention,
            limiters: [limiter, login_limiter],
            sessions,
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
        let limiters = self.limiters.clone();
        let pruner = spawn_periodic("rate limit pruning", PRUNE_INTERVAL, move || {
            limiters.iter().for_each(|limiter| limiter.prune());
            std::future::ready(())
        });
        let retention = spawn_periodic("retention", RETENTION_SWEEP, {
            let (db, demo, retention) = (self.db.clone(), self.demo.clone(), self.retention);
            move || erase_old_personal_data(db.clone(), demo.clone(), retention)
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
        // The worker winds down beside the server, from the signal on, not after it: the
        // two graces together must fit in the platform's kill timeout.
        let stop = Arc::new(stop);
        let on_signal = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move {
                if stop_signal().await {
                    tracing::info!("shutting down: finishing requests and deliveries under way");
                    let _ = stop.send(true);
                }
            }
        });
        let served = self.server.await;
        // Every request has been answered: the last bots counted are written now.
        bot_counts.stop().await;
        flush_bot_counts(self.bots.clone()).await;
        retention.abort();
        sessions.abort();
        on_signal.abort();
        let _ = stop.send(true);
        pruner.abort();
        worker
            .await
            .context("the delivery worker panicked")?
            .context("the delivery worker stopped")?;
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Whether `url` names this machine by a loopback name or address.
fn public_url_on_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
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

/// How soon a sign-out on another instance ends the sessions this one accepts.
const SESSION_GENERATION_POLL: Duration = Duration::from_secs(5);

/// Takes up sign-outs made on other instances (the generation they moved on).
async fn follow_admin_sessions(db: Storage, sessions: SessionGeneration) {
    match db.admin_sessions().generation().await {
        Ok(generation) => sessions.advance_to(generation),
        Err(error) => tracing::warn!(%error, "could not read the admin sessions' generation"),
    }
}

/// How often the bots counted in memory are written to the database.
const BOT_COUNT_FLUSH: Duration = Duration::from_secs(5);

/// Every few seconds, and once more when the server has stopped: writes the bots counted
/// in memory. A write per bot let a flood slow every visitor's signup down.
async fn flush_bot_counts(bots: BotTally) {
    if let Err(error) = bots.flush().await {
        tracing::error!(%error, "could not store the bot counts; they are kept for the next try");
    }
}

/// How often delivered submissions are checked against `DATA_RETENTION_DAYS`.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// At start, then hourly: erase the personal data of submissions delivered longer ago
/// than the retention period. Clover keeps the customer; this service keeps no copy. The
/// demo stand-in's customers made before the cutoff go too: unlike Clover's, they are
/// this service's own copy of visitors' data.
async fn erase_old_personal_data(db: Storage, demo: Option<DemoClover>, retention: Duration) {
    let cutoff = crate::storage::now_ms() - retention.as_millis() as i64;
    let erased = async {
        let customers = match &demo {
            Some(demo) => demo.erase_before(cutoff).await?,
            None => 0,
        };
        let submissions = db.queue().erase_delivered_before(cutoff).await?;
        Ok::<_, crate::storage::StorageError>(customers + submissions)
    };
    match erased.await {
        Ok(0) => {}
        Ok(erased) => tracing::info!(erased, "personal data past its retention was erased"),
        Err(error) => tracing::error!(%error, "could not erase old personal data"),
    }
}

/// The first log line says how the service reaches Clover.
fn announce_mode(settings: &Settings) {
    let clover = &settings.clover;
    match &clover.auth {
        CloverAuthSettings::Demo => tracing::info!(
            "clover-signup starting in DEMO mode: nothing is sent to Clover; customers are \
             kept by a stand-in in the local database (set CLOVER_AUTH=token to deliver)"
        ),
        CloverAuthSettings::Token { merchant_id, .. } => tracing::info!(
            "clover-signup starting in token mode for merchant {} on {} ({}, {})",
            merchant_id.as_ref().map_or(
                "(to be entered on the admin page)".to_owned(),
                ToString::to_string
            ),
            clover.api_base_url,
            clover.environment.as_str(),
            clover.region.as_str()
        ),
        CloverAuthSettings::OAuth(oauth) => tracing::info!(
            "clover-signup starting in OAuth mode for app {} on {} ({}, {}){}",
            oauth.app_id,
            clover.api_base_url,
            clover.environment.as_str(),
            clover.region.as_str(),
            if oauth.app_secret.is_some() {
                ""
            } else {
                ", low-trust app using PKCE"
            }
        ),
    }
}

/// The way to Clover the configuration chose, and what the admin needs to change it.
async fn clover_connection(
    settings: &Settings,
    db: &Storage,
) -> anyhow::Result<(CustomerDirectory, ClientAuth)> {
    let clover = &settings.clover;
    let client = |credential: Arc<dyn Credential>| {
        CloverClient::new(
            clover.api_base_url.clone(),
            credential,
            clover.request_timeout,
        )
        .map(Arc::new)
        .context("cannot build the HTTP client for Clover")
    };
    match &clover.auth {
        CloverAuthSettings::Demo => Ok((
            CustomerDirectory::Demo(DemoClover::new(db.demo_customers())),
            ClientAuth::Demo,
        )),
        CloverAuthSettings::Token {
            merchant_id,
            api_token,
        } => {
            let (credential, cipher, env_digest) =
                token_credential(settings, merchant_id, api_token, db).await?;
            let client = client(credential.clone())?;
            let admin = TokenAdmin {
                credential,
                cipher,
                env_digest,
                client: client.clone(),
            };
            Ok((CustomerDirectory::Clover(client), ClientAuth::Token(admin)))
        }
        CloverAuthSettings::OAuth(oauth) => {
            let credential = oauth_credential(settings, oauth, db).await?;
            let client = client(credential.clone())?;
            let connector = OAuthConnector {
                credential,
                // OAuth mode cannot start without SECRET_KEY (checked by the credential).
                pending: PendingConnects::new(SecretCipher::from_secret_key(
                    settings
                        .secret_key
                        .as_ref()
                        .expect("OAuth mode has a SECRET_KEY"),
                )),
                expected_merchant: oauth.expected_merchant.clone(),
                client: client.clone(),
                secure_cookie: settings.server.public_url.scheme() == "https",
            };
            Ok((
                CustomerDirectory::Clover(client),
                ClientAuth::OAuth(connector),
            ))
        }
    }
}

/// Token mode: the token in force is the one set most recently, in the environment or on
/// the admin page. A token entered on the admin page remembers the environment's token it
/// replaced; when the operator has changed that since, the environment wins again.
async fn token_credential(
    settings: &Settings,
    merchant_id: &Option<MerchantId>,
    api_token: &Option<SecretString>,
    db: &Storage,
) -> anyhow::Result<(Arc<StaticToken>, SecretCipher, String)> {
    let secret_key = settings
        .secret_key
        .as_ref()
        .context("SECRET_KEY is required in token mode")?;
    let cipher = SecretCipher::from_secret_key(secret_key);
    let env_digest = env_token_digest(secret_key, api_token.as_ref());
    let vault = db.credentials();
    vault
        .upgrade_env_digest(&cipher, api_token.as_ref(), &env_digest)
        .await
        .context("cannot upgrade the stored API token's record")?;
    let stored = vault
        .load_token(&cipher)
        .await
        .context("cannot read the stored API token")?;
    let from_admin = stored
        .filter(|entered| entered.applies_over(&env_digest))
        .and_then(EnteredToken::access);
    let from_env = merchant_id
        .clone()
        .zip(api_token.clone())
        .map(|(merchant_id, token)| Access { merchant_id, token });
    let credential = Arc::new(
        StaticToken::new(from_admin.or(from_env)).with_entered_tokens(EnteredTokens {
            vault,
            cipher: cipher.clone(),
            env_digest: env_digest.clone(),
        }),
    );
    Ok((credential, cipher, env_digest))
}

async fn oauth_credential(
    settings: &Settings,
    oauth: &OAuthSettings,
    db: &Storage,
) -> anyhow::Result<Arc<OAuthCredential>> {
    let clover = &settings.clover;
    let secret_key = settings
        .secret_key
        .as_ref()
        .context("SECRET_KEY is required to store OAuth tokens")?;
    let app = OAuthApp {
        app_id: oauth.app_id.clone(),
        app_secret: oauth.app_secret.clone(),
        api_base: clover.api_base_url.clone(),
        web_base: clover.web_base_url.clone(),
        // PUBLIC_URL + /oauth/callback, keeping any path PUBLIC_URL has.
        redirect_uri: Url::parse(&format!(
            "{}/oauth/callback",
            settings.server.public_url.as_str().trim_end_matches('/')
        ))
        .context("PUBLIC_URL cannot carry the callback path")?,
    };
    let api = OAuthApi::new(app, clover.request_timeout)
        .context("cannot build the HTTP client for Clover's OAuth")?;
    let credential = OAuthCredential::load(
        api,
        db.credentials(),
        SecretCipher::from_secret_key(secret_key),
        oauth.refresh_margin,
    )
    .await
    .context("cannot read the stored Clover connection")?;
    let credential = Arc::new(credential);
    if let (Some(legacy), Some(merchant)) = (&oauth.legacy_token, &oauth.expected_merchant) {
        if !credential.is_connected().await {
            match credential.migrate_legacy(merchant, legacy).await {
                Ok(()) => {
                    tracing::info!("the legacy Clover token was migrated to an expiring pair")
                }
                Err(error) => tracing::error!(%error, "could not migrate CLOVER_LEGACY_TOKEN"),
            }
        }
    }
    Ok(credential)
}

fn app_state(
    captcha: Option<Captcha>,
    settings: &Settings,
    (db, bots): (Storage, BotTally),
    (directory, connection): (CustomerDirectory, ClientAuth),
    delivery: DeliveryHandle,
    [limiter, login_limiter]: [&Arc<SubmissionLimiter>; 2],
    sessions: SessionGeneration,
) -> AppState {
    let clover = &settings.clover;
    let demo = matches!(clover.auth, CloverAuthSettings::Demo);
    AppState {
        db,
        bots,
        form: settings.form.clone(),
        limiter: Arc::clone(limiter),
        login_limiter: Arc::clone(login_limiter),
        form_tokens: FormTokens::new(settings.secret_key.as_ref(), settings.form.min_fill),
        captcha,
        delivery,
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
        info: ServiceInfo {
            mode: clover.auth.mode(),
            environment: clover.environment.as_str(),
            region: clover.region.as_str(),
            duplicate_policy: settings.delivery.duplicate_policy.as_str(),
        },
        theme_css: ThemeStylesheet::new(&settings.form.branding.theme),
        form_pages: Default::default(),
    }
}
