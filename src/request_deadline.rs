//! A deadline for each whole request, body included. actix times out a slow request head
//! but not a slow body: a client that declares 4 KiB and sends a byte a second would hold
//! its connection (and one of `MAX_CONNECTIONS`) for over an hour.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, web};

/// `REQUEST_TIMEOUT_SECONDS`: long enough for the slowest legitimate request (a CAPTCHA
/// check of up to 5 s, a token check with Clover of up to `CLOVER_TIMEOUT_SECONDS`), short
/// enough to shed a trickle.
#[derive(Clone, Copy)]
pub struct RequestDeadline(pub Duration);

pub async fn enforce_deadline(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Only a body can be sent slowly; a GET is answered in microseconds once its head
    // has arrived, which actix already times. A timer per page view is saved.
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.call(request).await;
    }
    let deadline = request
        .app_data::<web::Data<RequestDeadline>>()
        .map_or(Duration::from_secs(30), |d| d.0);
    match tokio::time::timeout(deadline, next.call(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request took longer than its deadline and was cut off");
            // actix answers 408 for this error and closes the connection.
            Err(actix_web::error::ErrorRequestTimeout(
                "The request took too long to arrive.",
            ))
        }
    }
}
