use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use crate::templates::{EMBED_SCRIPT, FORM_SCRIPT, KIOSK_SCRIPT, STYLESHEET};

#[derive(Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// Serves the built-in static files and the merchant's colours. A request naming the
/// current version (`?v=`) may be cached for a year, since a change gets a new version;
/// anything else only briefly.
pub async fn serve(
    request: HttpRequest,
    file: web::Path<String>,
    query: web::Query<AssetQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (body, version, content_type): (&str, &str, &str) = match file.as_str() {
        "style.css" => (
            STYLESHEET.body,
            &STYLESHEET.version,
            STYLESHEET.content_type,
        ),
        "form.js" => (
            FORM_SCRIPT.body,
            &FORM_SCRIPT.version,
            FORM_SCRIPT.content_type,
        ),
        "embed.js" => (
            EMBED_SCRIPT.body,
            &EMBED_SCRIPT.version,
            EMBED_SCRIPT.content_type,
        ),
        "kiosk.js" => (
            KIOSK_SCRIPT.body,
            &KIOSK_SCRIPT.version,
            KIOSK_SCRIPT.content_type,
        ),
        "theme.css" => (
            &state.theme_css.body,
            &state.theme_css.version,
            "text/css; charset=utf-8",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    let cache = if query.v.as_deref() == Some(version) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_matches('"') == version);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(ETag(EntityTag::new_strong(version.to_owned())));
    if fresh {
        return response.finish();
    }
    response.content_type(content_type).body(body.to_owned())
}
