use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::clover::AuthState;

/// The process serves: no database or Clover call, so it stays cheap for the platform's
/// health checks.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready to do the whole job: the database answers and Clover accepts the credential.
/// Public, so it names only which part is not ready; why (a reconnect due, a permission
/// missing) is for the merchant, on the admin page and in `/admin/status.json`.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = state.db.ping().await {
        tracing::error!(%error, "readiness: the database does not answer");
        return unavailable("database_unavailable");
    }
    match state.directory.auth().state {
        AuthState::Ok => HttpResponse::Ok().json(json!({"status": "ready"})),
        _ => unavailable("clover_unavailable"),
    }
}

fn unavailable(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unavailable",
        "reason": reason,
        "detail": "the admin page says why",
    }))
}
