//! HTTP routes. `configure` mounts them all, so the server and any test serve exactly the
//! same application.

mod admin;
mod api;
mod assets;
mod confirm;
mod connection;
mod counter;
mod form_cache;
mod health;
mod kiosk;
mod kiosks;
mod metrics;
mod oauth;
mod people;
mod preferences;
mod signup;
mod submissions;
mod wire;

use std::sync::Arc;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use maud::Markup;

use crate::alerts::SignupNotices;
use crate::captcha::Captcha;
use crate::clover::CustomerDirectory;
use crate::configuration::{ConsentSettings, FormSettings};
use crate::consent::{ConsentLinks, ConsentRecording, Withdrawn};
use crate::delivery::DeliveryHandle;
use crate::events::Events;
use crate::form_token::FormTokens;
use crate::i18n::Language;
use crate::intake::store::BotTally;
use crate::intake::{FollowUp, Intake};
use crate::kiosk::Kiosk;
use crate::mail::Mailbag;
use crate::metrics::{Metrics, MetricsAccess};
use crate::origin_check::ForbiddenPage;
use crate::rate_limit::SubmissionLimiter;
use crate::storage::Storage;
use crate::telemetry::RequestId;
use crate::templates::{PageContext, VisitorError, not_found_page, visitor_error_page};

pub use crate::admin::access::{AdminAccess, SessionGeneration};
pub use crate::admin::status::ServiceInfo;
pub use connection::{ClientAuth, TokenAdmin};
pub use oauth::OAuthConnector;

/// What every handler may need, built once and shared by all workers.
pub struct AppState {
    pub db: Storage,
    /// Bots turned away, counted in memory until the next flush.
    pub bots: BotTally,
    pub form: FormSettings,
    pub limiter: Arc<SubmissionLimiter>,
    /// Sign-in attempts at `/admin/login`, per visitor address.
    pub login_limiter: Arc<SubmissionLimiter>,
    pub form_tokens: FormTokens,
    /// Present when Turnstile is configured.
    pub captcha: Option<Captcha>,
    pub delivery: DeliveryHandle,
    /// Events for the event webhook, when one is set.
    pub events: Events,
    /// A message for every new signup, when the merchant asked for it.
    pub notices: Option<Arc<SignupNotices>>,
    pub directory: CustomerDirectory,
    /// How the credential can be changed: connect (OAuth) or replace (token).
    pub connection: ClientAuth,
    pub admin: AdminAccess,
    /// The figures `/metrics` shows, and the handles that record them.
    pub metrics: Metrics,
    /// Who may scrape `/metrics`.
    pub metrics_access: MetricsAccess,
    pub info: ServiceInfo,
    /// `/static/theme.css`: the merchant's colours.
    pub theme_css: ThemeStylesheet,
    /// How consents are recorded, and the links that withdraw them.
    pub consent: ConsentRecording,
    pub links: ConsentLinks,
    /// Who has withdrawn, followed from the ledger.
    pub withdrawn: Withdrawn,
    /// Where emails to visitors are posted (nowhere when none is on).
    pub mail: Mailbag,
    /// Double opt-in, the welcome email, the confirmation window.
    pub consent_settings: ConsentSettings,
    /// The empty form, rendered once per language and presentation.
    pub form_pages: form_cache::FormCache,
    /// The counter tablets.
    pub kiosk: Kiosk,
}

/// The stylesheet of the merchant's colours, built once from `ACCENT_COLOR`.
pub struct ThemeStylesheet {
    pub body: String,
    pub version: String,
}

impl ThemeStylesheet {
    pub fn new(theme: &crate::configuration::Theme) -> Self {
        let body = theme.css();
        Self {
            version: crate::templates::content_version(&body),
            body,
        }
    }
}

/// The intake, with what it needs of the service.
fn intake(state: &AppState) -> Intake<'_> {
    Intake {
        submissions: state.db.submissions(),
        bots: &state.bots,
        limiter: &state.limiter,
        devices: &state.kiosk.limiter,
        form_tokens: &state.form_tokens,
        captcha: state.captcha.as_ref(),
        delivery: &state.delivery,
        events: &state.events,
        notices: state.notices.as_ref(),
        rules: &state.form.rules,
        consent_text: state.form.consent_text.as_deref(),
        sms_consent_text: state.form.sms_consent_text.as_deref(),
        merchant_name: state.form.branding.merchant_name.as_deref(),
        metrics: state.metrics.intake(),
        consent: &state.consent,
        ledger: state.db.consent(),
        withdrawn: &state.withdrawn,
        follow_up: FollowUp {
            double_opt_in: state.consent_settings.double_opt_in,
            welcome: state.consent_settings.welcome.is_some(),
            mail: &state.mail,
        },
    }
}

/// The visitor's language: `?lang=`, else `Accept-Language`, else `DEFAULT_LANGUAGE`.
pub(crate) fn request_language(state: &AppState, request: &HttpRequest) -> Language {
    let query = chosen_language(request);
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Language::negotiate(query.as_deref(), accept, state.form.default_language)
}

/// The language named by `?lang=`, when the request has one.
fn chosen_language(request: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "lang")
        .map(|(_, value)| value.into_owned())
}

/// What a visitor page needs to speak the visitor's language in the merchant's look.
pub(crate) fn page_context<'a>(
    state: &'a AppState,
    request: &HttpRequest,
    embed: bool,
    path: &'static str,
) -> PageContext<'a> {
    PageContext {
        language: request_language(state, request),
        language_chosen: chosen_language(request)
            .as_deref()
            .and_then(Language::from_tag)
            .is_some(),
        merchant_language: state.form.default_language,
        branding: &state.form.branding,
        theme_version: &state.theme_css.version,
        embed,
        parent_origins: &state.form.parent_origins,
        path,
        path_tail: None,
        source: None,
    }
}

/// `api_origins`: the sites (`ALLOWED_ORIGINS`) whose pages may call the JSON API from
/// the browser; they get CORS answers, everyone else none.
///
/// Every route in one table, long on purpose: a path is found here in one search, with
/// the handler that answers it (`docs/routes.md` says what each one does).
pub fn configure(cfg: &mut web::ServiceConfig, api_origins: &[String]) {
    cfg.app_data(web::Data::new(ForbiddenPage(forbidden_page)))
        .service(
            web::resource("/api/signups")
                .wrap(api::cors(api_origins))
                .route(web::post().to(api::create_signup)),
        )
        .route("/", web::get().to(signup::show_form))
        .route("/", web::post().to(signup::submit_form))
        .route("/thanks", web::get().to(signup::thanks))
        .route("/embed", web::get().to(signup::show_embedded_form))
        .route("/embed", web::post().to(signup::submit_embedded_form))
        .route("/embed/thanks", web::get().to(signup::embedded_thanks))
        .route("/confirm/{token}", web::get().to(confirm::page))
        .route("/confirm/{token}", web::post().to(confirm::confirm))
        .route("/preferences/{token}", web::get().to(preferences::page))
        .route(
            "/preferences/{token}",
            web::post().to(preferences::withdraw),
        )
        .route("/unsubscribe/{token}", web::get().to(preferences::to_page))
        .route(
            "/unsubscribe/{token}",
            web::post().to(preferences::one_click),
        )
        .route("/kiosk", web::get().to(kiosk::form))
        .route("/kiosk", web::post().to(kiosk::submit))
        .route("/kiosk/thanks", web::get().to(kiosk::thanks))
        .route("/kiosk/pair/{token}", web::get().to(kiosk::pairing))
        .route("/kiosk/pair/{token}", web::post().to(kiosk::pair))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::scrape))
        .route("/admin", web::get().to(admin::status_page))
        .route("/admin/status.json", web::get().to(admin::status_json))
        .route("/admin/login", web::get().to(admin::login_form))
        .route("/admin/login", web::post().to(admin::login))
        .route("/admin/logout", web::post().to(admin::logout))
        .route("/admin/retry", web::post().to(admin::retry))
        .route("/admin/search", web::post().to(submissions::search))
        .route("/admin/export.csv", web::get().to(submissions::export))
        .route("/admin/people", web::get().to(people::page))
        .route("/admin/people", web::post().to(people::look_up))
        .route("/admin/people/export", web::post().to(people::export))
        .route("/admin/people/withdraw", web::post().to(people::withdraw))
        .route("/admin/people/erase", web::post().to(people::erase))
        .route("/admin/consents.csv", web::get().to(people::consents_csv))
        .route("/admin/qr", web::get().to(counter::page))
        .route("/admin/qr/poster", web::get().to(counter::poster))
        .route("/admin/qr.{format}", web::get().to(counter::image))
        .route("/admin/kiosks", web::get().to(kiosks::page))
        .route("/admin/kiosks", web::post().to(kiosks::add))
        .route("/admin/kiosks/link", web::post().to(kiosks::new_link_for))
        .route("/admin/kiosks/rename", web::post().to(kiosks::rename))
        .route("/admin/kiosks/revoke", web::post().to(kiosks::revoke))
        .route("/admin/token", web::post().to(connection::replace_token))
        .route("/admin/migrate", web::post().to(connection::migrate_legacy))
        .route("/oauth/connect", web::get().to(oauth::connect))
        .route("/oauth/launch", web::get().to(oauth::launch))
        .route("/oauth/callback", web::get().to(oauth::callback))
        // Only the static files are compressed: they are the larger answers, and browsers
        // cache them for a year. A form page is 3–4 KiB, and compressing it on every view
        // would cost more CPU than its bytes cost on the wire.
        .service(
            web::resource("/static/{file}")
                .wrap(actix_web::middleware::Compress::default())
                .route(web::get().to(assets::serve)),
        )
        .default_service(web::to(not_found));
}

/// Anything else: a page in the visitor's language that offers the way to the form, or a
/// short JSON answer for the API.
async fn not_found(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let status = actix_web::http::StatusCode::NOT_FOUND;
    if request.path().starts_with("/api/") {
        return HttpResponse::build(status).json(serde_json::json!({"error": "no such endpoint"}));
    }
    let context = page_context(&state, &request, false, "/");
    html(status, not_found_page(&context))
}

/// A cross-site post to a visitor page, refused before any route: in the visitor's
/// language, with the way back to the form.
fn forbidden_page(request: &HttpRequest) -> HttpResponse {
    let Some(state) = request.app_data::<web::Data<AppState>>() else {
        return HttpResponse::Forbidden().finish();
    };
    let context = page_context(state, request, false, "/");
    let page = visitor_error_page(&context, VisitorError::Forbidden, None);
    html(actix_web::http::StatusCode::FORBIDDEN, page)
}

/// An HTML response with any status (maud's own responder always answers 200).
pub(crate) fn html(status: actix_web::http::StatusCode, markup: Markup) -> HttpResponse {
    html_text(status, markup.into_string())
}

/// An HTML response of a page already rendered. Never cached: every form carries its
/// own token.
pub(crate) fn html_text(status: actix_web::http::StatusCode, page: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page)
}

/// Post/Redirect/Get: a `303` so that reloading the next page does not post again.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Whether the visitor reaches the service over HTTPS (`PUBLIC_URL`'s, or this request's
/// scheme as the proxy tells it): a cookie set then is `Secure`.
pub(crate) fn over_https(state: &AppState, request: &HttpRequest) -> bool {
    state.info.public_url.scheme() == "https" || request.connection_info().scheme() == "https"
}

pub(crate) fn request_id(request: &HttpRequest) -> Option<String> {
    request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
}
