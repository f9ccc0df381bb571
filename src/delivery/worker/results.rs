//! What a delivery's end writes back to the queue: delivered, failed for good, or
//! rescheduled with a backoff (or due at once, when waiting on the merchant).

use std::time::Duration;

use serde_json::json;

use super::DeliveryWorker;
use super::attempt::Attempted;
use crate::clover::CloverError;
use crate::delivery::{DeliveryOutcome, QueuedDelivery};
use crate::events::EventKind;
use crate::metrics::DeliveryResult;
use crate::storage::{StorageError, now_ms};
use crate::tasks::retry;

/// How an attempt counts in `/metrics`: by what it did in Clover, whether or not its
/// result could then be written to the queue (a customer created is created either way).
fn result_of(attempt: &Result<Attempted, CloverError>) -> DeliveryResult {
    match attempt {
        Ok(Attempted::Delivered(_, DeliveryOutcome::Created)) => DeliveryResult::Created,
        Ok(Attempted::Delivered(_, DeliveryOutcome::Updated)) => DeliveryResult::Updated,
        Ok(Attempted::Delivered(_, DeliveryOutcome::Linked)) => DeliveryResult::Linked,
        // The one error that is final: the signup waits for the merchant.
        Err(CloverError::Rejected { .. }) => DeliveryResult::Failed,
        // Everything else leaves the signup queued for a later attempt: an outage, a
        // refused credential or permission (it waits for the merchant to fix it, then
        // goes), a claim that ran out.
        Ok(Attempted::ClaimLost) | Err(_) => DeliveryResult::Retried,
    }
}

/// Waits between tries at writing a delivery's result.
const RESULT_WRITE_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
];

/// What became of an attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    Written,
    /// The database could not be written to: the claim runs out, and the submission is
    /// delivered again, its customer found first.
    NotWritten,
    /// The submission was erased while its delivery was under way: there is nothing left
    /// to write to.
    Erased,
}

impl DeliveryWorker {
    /// Writes how an attempt ended to the queue.
    pub(super) async fn record(
        &self,
        delivery: &QueuedDelivery,
        attempt: &Result<Attempted, CloverError>,
    ) -> Recorded {
        let id = &delivery.id;
        self.metrics.attempted(result_of(attempt));
        if let Ok(Attempted::ClaimLost) = attempt {
            tracing::warn!(submission = %id, "the claim on this submission was running out before it was written to Clover; it is left for later or to the instance holding it");
            // A no-op unless this instance still holds it (the database could not say, or
            // the claim was too short): then it waits like any attempt that did not land.
            let next = now_ms() + self.backoff.delay(delivery.attempts).as_millis() as i64;
            if let Err(error) = self.queue.reschedule(id, next, "claim running out").await {
                tracing::error!(submission = %id, %error, "could not reschedule a delivery");
                return Recorded::NotWritten;
            }
            Recorded::Written
        } else {
            // If it never lands, the submission stays claimed until the claim's lease runs
            // out (heartbeats renew only deliveries under way); then it is due again, and
            // its next delivery searches Clover before it creates anything.
            // Each try says whether the submission is still kept.
            let written = retry(
            &RESULT_WRITE_RETRIES,
            || async {
                match attempt {
                    Ok(Attempted::Delivered(customer_id, outcome)) => {
                        self.queue.mark_delivered(id, customer_id, *outcome).await
                    }
                    Ok(Attempted::ClaimLost) => Ok(true),
                    Err(error) => self.record_failure(delivery, error).await.map(|()| true),
                }
            },
            |error| tracing::error!(submission = %id, %error, "could not record a delivery result"),
        )
        .await;
            match written {
                Err(_) => Recorded::NotWritten,
                Ok(true) => Recorded::Written,
                Ok(false) => Recorded::Erased,
            }
        }
    }

    async fn record_failure(
        &self,
        delivery: &QueuedDelivery,
        error: &CloverError,
    ) -> Result<(), StorageError> {
        let id = &delivery.id;
        match error {
            CloverError::Rejected { status, .. } => {
                tracing::error!(submission = %id, status, "Clover rejected the customer; not retrying");
                if !self.queue.mark_failed(id, &error.to_string()).await? {
                    // Another instance holds it now, or it was erased meanwhile: no event,
                    // which would carry the person's details again.
                    return Ok(());
                }
                // Clover's own words may quote the visitor's data: the status only.
                let reason = json!({ "reason": "rejected by Clover", "status": status });
                let person = super::attempt::person(delivery);
                (self.events)
                    .signup(EventKind::SignupFailed, id, Some(&person), reason)
                    .await;
                Ok(())
            }
            CloverError::Unauthorized => {
                tracing::warn!(submission = %id, "delivery paused: Clover refused the credential");
                self.queue
                    .reschedule(id, now_ms(), &error.to_string())
                    .await
            }
            CloverError::MissingPermission(missing) => {
                // A setup problem, not this signup's: it waits, due, for the permission.
                tracing::warn!(submission = %id, permission = missing.code(), "delivery parked on a missing permission");
                self.queue
                    .reschedule(id, now_ms(), missing.explanation())
                    .await
            }
            CloverError::Unavailable { retry_after, .. } => {
                self.handle.clover_failed();
                let wait = self
                    .backoff
                    .delay(delivery.attempts)
                    .max(retry_after.unwrap_or_default());
                tracing::warn!(submission = %id, attempt = delivery.attempts, retry_in_ms = wait.as_millis() as u64, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.queue.reschedule(id, next, &error.to_string()).await
            }
            CloverError::UnexpectedResponse(_) | CloverError::Storage(_) => {
                self.handle.clover_failed();
                let wait = self.backoff.delay(delivery.attempts);
                tracing::error!(submission = %id, %error, "delivery will be retried");
                let next = now_ms() + wait.as_millis() as i64;
                self.queue.reschedule(id, next, &error.to_string()).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_rejection_fails_and_every_other_error_is_retried() {
        let delivered = |outcome| result_of(&Ok(Attempted::Delivered("C1".into(), outcome)));
        assert_eq!(delivered(DeliveryOutcome::Created), DeliveryResult::Created);
        assert_eq!(delivered(DeliveryOutcome::Updated), DeliveryResult::Updated);
        assert_eq!(delivered(DeliveryOutcome::Linked), DeliveryResult::Linked);
        let rejected = CloverError::Rejected {
            status: 400,
            message: "bad email".into(),
        };
        assert_eq!(result_of(&Err(rejected)), DeliveryResult::Failed);
        for error in [
            CloverError::Unauthorized,
            CloverError::unavailable("Clover answered 503"),
        ] {
            assert_eq!(result_of(&Err(error)), DeliveryResult::Retried);
        }
        assert_eq!(
            result_of(&Ok(Attempted::ClaimLost)),
            DeliveryResult::Retried
        );
    }
}
