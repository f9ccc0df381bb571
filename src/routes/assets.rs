use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::templates::STYLESHEET;

#[derive(Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// Serves the built-in static files. A request naming the current version (`?v=`) may be
/// cached for a year, since a change gets a new version; anything else only briefly.
pub async fn serve(
    request: HttpRequest,
    file: web::Path<String>,
    query: web::Query<AssetQuery>,
) -> HttpResponse {
    if file.as_str() != "style.css" {
        return HttpResponse::NotFound().finish();
    }
    let stylesheet = &*STYLESHEET;
    let tag = EntityTag::new_strong(stylesheet.version.clone());
    let cache = if query.v.as_deref() == Some(stylesheet.version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_matches('"') == stylesheet.version);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(ETag(tag));
    if fresh {
        return response.finish();
    }
    response
        .content_type("text/css; charset=utf-8")
        .body(stylesheet.body)
}
