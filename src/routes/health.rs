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
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = state.db.ping().await {
        tracing::error!(%error, "readiness: the database does not answer");
        return unavailable("database_unavailable", "the database does not answer");
    }
    let auth = state.directory.auth();
    if auth.missing_permission.is_some() {
        return unavailable(
            "clover_permission_missing",
            auth.reason
                .as_deref()
                .unwrap_or("Clover lacks a permission"),
        );
    }
    match auth.state {
        AuthState::Ok => HttpResponse::Ok().json(json!({"status": "ready"})),
        state => unavailable(
            &format!("clover_auth_{}", state.as_str()),
            auth.reason
                .as_deref()
                .unwrap_or("Clover refuses the credential"),
        ),
    }
}

fn unavailable(reason: &str, detail: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unavailable",
        "reason": reason,
        "detail": detail,
    }))
}
