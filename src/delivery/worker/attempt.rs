//! One delivery: search Clover by email, decide with `plan_delivery`, and carry out the
//! plan's writes while the claim lasts.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::DeliveryWorker;
use super::results::Recorded;
use crate::clover::CloverError;
use crate::delivery::{DeliveryOutcome, Plan, QueuedDelivery, plan_delivery};
use crate::events::Person;

/// How an attempt ended, short of an error from Clover.
pub(super) enum Attempted {
    /// The customer in Clover, and how it came to be.
    Delivered(String, DeliveryOutcome),
    /// The claim ran out (or could not be checked) before anything was written to Clover:
    /// the submission is left to whichever instance holds it now.
    ClaimLost,
}

impl DeliveryWorker {
    /// Attempts the delivery and records how it went.
    pub(super) async fn deliver(&self, delivery: QueuedDelivery) {
        // A panic in one delivery must not strand its row or stop the worker.
        let attempt = AssertUnwindSafe(self.attempt(&delivery))
            .catch_unwind()
            .await;
        let attempt = attempt.unwrap_or_else(|_| {
            Err(CloverError::UnexpectedResponse(
                "the delivery stopped unexpectedly".to_owned(),
            ))
        });
        let recorded = self.record(&delivery, &attempt).await;
        if let Ok(Attempted::Delivered(customer_id, outcome)) = &attempt {
            match recorded {
                Recorded::Written => {
                    tracing::info!(submission = %delivery.id, outcome = outcome.as_str(), clover_customer_id = %customer_id, "delivered");
                    let person = person(&delivery);
                    (self.events)
                        .delivered(&delivery.id, Some(&person), customer_id, *outcome)
                        .await;
                }
                Recorded::NotWritten => {
                    tracing::warn!(submission = %delivery.id, clover_customer_id = %customer_id, "reached Clover, but the result could not be recorded; once the claim runs out it is delivered again, finding this customer first");
                }
                // No event: it would carry the person's details again, after the erasure.
                Recorded::Erased => {
                    tracing::warn!(submission = %delivery.id, clover_customer_id = %customer_id, "the signup was erased while it was being delivered: its customer in Clover was made all the same and is recorded nowhere here; delete it in Clover if the erasure must reach it");
                }
            }
            self.directory.delivery_succeeded();
            self.handle.clover_answered();
        }
    }

    /// One delivery: search by email, then carry out the plan. The search always comes
    /// first, so a create whose answer was lost is found instead of repeated.
    pub(super) async fn attempt(
        &self,
        delivery: &QueuedDelivery,
    ) -> Result<Attempted, CloverError> {
        let found = self
            .directory
            .find_by_email(delivery.email_as_typed())
            .await?;
        let plan = plan_delivery(delivery, &found, self.policy);
        let outcome = plan.outcome();
        let customer_id = match plan {
            Plan::Adopt { customer_id }
            | Plan::Link {
                customer_id,
                add_note: None,
            } => customer_id,
            writes => {
                let Some(send_by) = self.write_deadline(delivery).await else {
                    return Ok(Attempted::ClaimLost);
                };
                self.carry_out(writes, send_by)
                    .await
                    .map_err(|error| settling(error, 2 * self.request_timeout))?
            }
        };
        Ok(Attempted::Delivered(customer_id, outcome))
    }

    /// The plan's writes to Clover, none sent after `send_by`; the customer's id.
    async fn carry_out(&self, plan: Plan, send_by: Instant) -> Result<String, CloverError> {
        let customer_id = match plan {
            Plan::Adopt { customer_id } => customer_id,
            Plan::Link {
                customer_id,
                add_note,
            } => {
                if let Some(note) = add_note {
                    self.add_consent_note(&customer_id, &note, send_by)
                        .await
                        .map_err(deleted_meanwhile)?;
                }
                customer_id
            }
            Plan::Complete {
                customer_id,
                add_phone,
                first_name,
                last_name,
                add_note,
            } => {
                let completed = async {
                    if let Some(phone) = add_phone {
                        self.directory
                            .add_phone(&customer_id, &phone, send_by)
                            .await?;
                    }
                    if first_name.is_some() || last_name.is_some() {
                        self.directory
                            .set_names(
                                &customer_id,
                                first_name.as_deref(),
                                last_name.as_deref(),
                                send_by,
                            )
                            .await?;
                    }
                    if let Some(note) = add_note {
                        self.add_consent_note(&customer_id, &note, send_by).await?;
                    }
                    Ok(())
                };
                completed.await.map_err(deleted_meanwhile)?;
                customer_id
            }
            Plan::Create(draft) => self.directory.create(&draft, send_by).await?,
        };
        Ok(customer_id)
    }

    /// Writes the consent line into an existing customer's empty note. The consent is in
    /// this service's own record anyway, so a refusal that retrying cannot mend (Clover's
    /// metadata endpoint is little documented) is logged and the delivery goes on; a
    /// missing permission, a deleted customer or an outage still stop it.
    async fn add_consent_note(
        &self,
        customer_id: &str,
        note: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        match self.directory.add_note(customer_id, note, send_by).await {
            Err(CloverError::Rejected { status, message }) if status != 404 => {
                tracing::warn!(status, %message, clover_customer_id = %customer_id, "Clover refused the consent note; the consent stays in this service's record");
                Ok(())
            }
            other => other,
        }
    }
}

/// A write to Clover that got no answer, or a 5xx, may still be carried out after it
/// (a gateway that gave up while the work behind it went on, docs/clover-api.md §5.3).
/// The next attempt starts with a search, which would find nobody until then and create
/// a second customer: it waits at least `settle` (twice a request's timeout, the longest
/// this service lets a request of its own run), or longer if Clover asked.
fn settling(error: CloverError, settle: Duration) -> CloverError {
    match error {
        CloverError::Unavailable {
            reason,
            retry_after,
        } => CloverError::Unavailable {
            reason,
            retry_after: Some(retry_after.unwrap_or_default().max(settle)),
        },
        other => other,
    }
}

/// A customer found by the search and gone before it could be written to: the next
/// attempt searches again.
fn deleted_meanwhile(error: CloverError) -> CloverError {
    match error {
        CloverError::Rejected { status: 404, .. } => {
            CloverError::unavailable("the customer found was deleted before it could be written to")
        }
        other => other,
    }
}

/// Who a delivery is for, as the event webhook may tell (when the merchant opted in).
pub(super) fn person(delivery: &QueuedDelivery) -> Person {
    Person {
        first_name: delivery.first_name.clone(),
        last_name: delivery.last_name.clone(),
        email: delivery.email_as_typed().to_owned(),
        phone: delivery.phone.clone(),
    }
}
