//! `GET /metrics`: the service's figures in Prometheus' text format, for whoever holds
//! `METRICS_TOKEN`. The figures and the check are `crate::metrics`'; this reads what is
//! read at scrape time (the queue and alerts from the database, the credential's state)
//! and answers.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use time::OffsetDateTime;

use super::AppState;
use crate::admin::Backlog;
use crate::clover::{AuthSnapshot, AuthState};
use crate::metrics::{CONTENT_TYPE, MetricsRefusal, Scrape, Waiting};
use crate::storage::now_ms;

pub async fn scrape(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match state.metrics_access.check(&request) {
        Ok(()) => {}
        // Not switched on: no different from a path that does not exist.
        Err(MetricsRefusal::Disabled) => return super::not_found(request, state).await,
        Err(MetricsRefusal::Unauthorized) => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body("send Authorization: Bearer <METRICS_TOKEN>\n");
        }
        Err(MetricsRefusal::Limited(wait)) => {
            return HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, wait))
                .content_type("text/plain; charset=utf-8")
                .body("too many wrong tokens from this address\n");
        }
    }
    let waiting = match state.db.statistics().backlog().await {
        Ok(backlog) => Some(waiting(backlog, now_ms())),
        Err(error) => {
            // Said in the answer too (database_up 0); the log says why.
            tracing::warn!(%error, "/metrics could not read the database");
            None
        }
    };
    let scrape = Scrape {
        waiting,
        ..of_credential(&state.directory.auth(), OffsetDateTime::now_utc())
    };
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render(&scrape))
}

/// The backlog as the database has it, its oldest signup's age taken at `now_ms`.
fn waiting(backlog: Backlog, now_ms: i64) -> Waiting {
    Waiting {
        pending: backlog.pending,
        failed: backlog.failed,
        oldest_pending_age: backlog.oldest_pending_at_ms.map(|received| {
            // Another instance's clock may be a little ahead: never a negative age.
            Duration::from_millis(u64::try_from(now_ms - received).unwrap_or(0))
        }),
        alerts_open: backlog.alerts_open,
    }
}

/// The credential's state (every state, 1 for the current one) and, for an OAuth pair,
/// the time its refresh token has left.
fn of_credential(auth: &AuthSnapshot, now: OffsetDateTime) -> Scrape {
    Scrape {
        waiting: None,
        auth_states: AuthState::ALL
            .iter()
            .map(|&state| (state.as_str(), state == auth.state))
            .collect(),
        refresh_expires_in: auth
            .refresh_expires_at
            .map(|ends| Duration::try_from(ends - now).unwrap_or(Duration::ZERO)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_signup_is_as_old_as_the_clock_says_and_never_younger_than_zero() {
        let backlog = Backlog {
            pending: 2,
            failed: 1,
            oldest_pending_at_ms: Some(10_000),
            alerts_open: 1,
        };
        let waiting = waiting(backlog, 12_500);
        assert_eq!(
            waiting.oldest_pending_age,
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(
            (waiting.pending, waiting.failed, waiting.alerts_open),
            (2, 1, 1)
        );
        let ahead = super::waiting(backlog, 9_000);
        assert_eq!(ahead.oldest_pending_age, Some(Duration::ZERO));
        let empty = super::waiting(Backlog::default(), 12_500);
        assert_eq!(empty.oldest_pending_age, None);
    }

    #[test]
    fn every_state_is_shown_with_only_the_current_one_set() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut auth = AuthSnapshot::ok();
        auth.state = AuthState::Failing;
        auth.refresh_expires_at = Some(now + time::Duration::hours(1));
        let scrape = of_credential(&auth, now);
        assert_eq!(
            scrape.auth_states,
            [
                ("ok", false),
                ("needs_authorization", false),
                ("failing", true)
            ]
        );
        assert_eq!(scrape.refresh_expires_in, Some(Duration::from_secs(3600)));
        auth.refresh_expires_at = Some(now - time::Duration::hours(1));
        assert_eq!(
            of_credential(&auth, now).refresh_expires_in,
            Some(Duration::ZERO)
        );
        assert_eq!(
            of_credential(&AuthSnapshot::ok(), now).refresh_expires_in,
            None
        );
    }
}
