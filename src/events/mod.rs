//! Events for other systems: every signup stored, delivered or failed, and the Clover
//! connection needing attention or restored, posted as signed JSON to
//! `EVENT_WEBHOOK_URL`. An event is first written to a durable outbox (`outbox.rs`, in
//! the database), then sent by `dispatch.rs`, again and again with growing waits for up
//! to a day until the receiver takes it, by one instance at a time.

mod dispatch;
pub mod outbox;

use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::consent::{Actor, ConsentChannel, PersonKey};
use crate::delivery::DeliveryOutcome;
use crate::domain::random_uuid;
use crate::storage::{SubmissionId, now_ms};

pub(crate) use dispatch::retry_wait;
pub use dispatch::{EventDispatcher, SIGNATURE_HEADER, sign};
pub use outbox::{EventOutbox, OutboxEvent};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    SignupStored,
    SignupDelivered,
    SignupFailed,
    ConnectionNeedsAttention,
    ConnectionRestored,
    ConsentWithdrawn,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignupStored => "signup.stored",
            Self::SignupDelivered => "signup.delivered",
            Self::SignupFailed => "signup.failed",
            Self::ConnectionNeedsAttention => "connection.needs_attention",
            Self::ConnectionRestored => "connection.restored",
            Self::ConsentWithdrawn => "consent.withdrawn",
        }
    }
}

/// The visitor's data an event may carry, when the merchant chose to send it.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
}

/// Where the code that sees something happen records its event. Cheap to clone; does
/// nothing when no event webhook is set.
#[derive(Clone, Default)]
pub struct Events {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    outbox: Arc<dyn EventOutbox>,
    personal_data: bool,
    /// Wakes the dispatcher: an event is sent at once, not at the next poll.
    wake: Arc<tokio::sync::Notify>,
}

impl Events {
    pub fn new(
        outbox: Arc<dyn EventOutbox>,
        personal_data: bool,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                outbox,
                personal_data,
                wake,
            })),
        }
    }

    /// Whether events are recorded (an event webhook is set).
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// A signup event. Its personal data goes only where the merchant opted in.
    pub async fn signup(
        &self,
        kind: EventKind,
        id: &SubmissionId,
        person: Option<&Person>,
        more: Value,
    ) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut data = json!({ "submission_id": id.as_ref() });
        if inner.personal_data
            && let Some(person) = person
        {
            data["first_name"] = json!(person.first_name);
            data["last_name"] = json!(person.last_name);
            data["email"] = json!(person.email);
            data["phone"] = json!(person.phone);
        }
        if let (Value::Object(data), Value::Object(more)) = (&mut data, more) {
            data.extend(more);
        }
        self.record(kind, data).await;
    }

    /// A delivered signup's event.
    pub async fn delivered(
        &self,
        id: &SubmissionId,
        person: Option<&Person>,
        customer_id: &str,
        outcome: DeliveryOutcome,
    ) {
        let more = json!({ "clover_customer_id": customer_id, "outcome": outcome.as_str() });
        self.signup(EventKind::SignupDelivered, id, person, more)
            .await;
    }

    /// An event about the Clover connection.
    pub async fn connection(&self, kind: EventKind, detail: Option<&str>) {
        self.record(kind, json!({ "detail": detail })).await;
    }

    /// A consent taken back, by the person or by the merchant for them. The person is
    /// named by their key in the consent ledger; their address only where the merchant
    /// opted in to personal data.
    pub async fn consent_withdrawn(
        &self,
        person: &PersonKey,
        channel: ConsentChannel,
        by: Actor,
        email: Option<&str>,
    ) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut data = json!({
            "person": person.as_ref(),
            "channel": channel.as_str(),
            "by": by.as_str(),
        });
        if inner.personal_data {
            data["email"] = json!(email);
        }
        self.record(EventKind::ConsentWithdrawn, data).await;
    }

    async fn record(&self, kind: EventKind, data: Value) {
        let Some(inner) = &self.inner else {
            return;
        };
        let event = OutboxEvent::new(kind, data);
        match inner.outbox.add(&event).await {
            Ok(()) => inner.wake.notify_one(),
            // The state change it tells of is stored either way; this one event is lost.
            Err(error) => {
                tracing::error!(%error, event = kind.as_str(), "could not record an event for the event webhook")
            }
        }
    }
}

impl OutboxEvent {
    fn new(kind: EventKind, data: Value) -> Self {
        let id = random_uuid().to_string();
        let created_at_ms = now_ms();
        let created_at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_at_ms) * 1_000_000)
                .ok()
                .and_then(|at| at.format(&Rfc3339).ok())
                .unwrap_or_default();
        let body = json!({
            "id": id,
            "type": kind.as_str(),
            "created_at": created_at,
            "data": data,
        });
        Self {
            id,
            kind: kind.as_str().to_owned(),
            body: body.to_string(),
            created_at_ms,
            attempts: 0,
        }
    }
}
