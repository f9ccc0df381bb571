//! The merchant's own list: a search by email (`POST /admin/search`, so that the
//! address stays out of URLs, histories and logs) and the CSV export
//! (`GET /admin/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::{AppState, html};
use crate::admin::dashboard::days_between;
use crate::admin::export::csv;
use crate::admin::search::find;
use crate::templates::admin_search_page;

#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    email: String,
}

pub async fn search(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form: SearchForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Some(refusal) = state
        .admin
        .action_refusal(&request, form.csrf_token.as_deref())
    {
        return refusal.error_response();
    }
    // The address is the merchant's customer's: it is never logged, here or below.
    match find(&*state.db.statistics(), &form.email).await {
        Ok(found) => html(
            StatusCode::OK,
            admin_search_page(form.email.trim(), &found, &state.admin.csrf_token(&request)),
        ),
        Err(error) => {
            tracing::warn!(%error, "the search could not read the database");
            unavailable("The database does not answer; search again in a moment.")
        }
    }
}

#[derive(Deserialize)]
pub struct ExportQuery {
    from: String,
    to: String,
}

pub async fn export(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = state.admin.refusal(&request) {
        return refusal.error_response();
    }
    let range = serde_urlencoded::from_str::<ExportQuery>(request.query_string())
        .map_err(|_| "Name the days as ?from=YYYY-MM-DD&to=YYYY-MM-DD.".to_owned())
        .and_then(|query| {
            days_between(&query.from, &query.to, &state.info.time_zone)
                .map_err(|error| error.to_string())
        });
    let range = match range {
        Ok(range) => range,
        Err(message) => {
            return HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(message);
        }
    };
    let rows = match state
        .db
        .statistics()
        .export(range.from_ms, range.to_ms)
        .await
    {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "the export could not read the database");
            return unavailable("The database does not answer; export again in a moment.");
        }
    };
    tracing::info!(rows = rows.len(), "the merchant exported signups");
    let name = format!("signups-{}-to-{}.csv", range.from, range.to);
    // The byte order mark makes Excel read the file as UTF-8, accents and all.
    let body = format!("\u{feff}{}", csv(&rows));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn unavailable(message: &'static str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::RETRY_AFTER, 5))
        .body(message)
}
