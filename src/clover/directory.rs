use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{AuthSnapshot, CloverClient, CloverError, DemoClover};
use crate::domain::{Birthday, PostalAddress};

/// A customer as found in the merchant's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingCustomer {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// The note, unless it is empty.
    pub note: Option<String>,
    /// Whether the note was read at all: a customer whose metadata did not come back may
    /// have a note all the same.
    pub metadata_read: bool,
    /// Epoch milliseconds, as Clover keeps it.
    pub customer_since: Option<i64>,
}

/// A customer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerDraft {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    /// `metadata.dobDay`, `dobMonth` and `dobYear`.
    pub birthday: Option<Birthday>,
    /// The one entry of `addresses`.
    pub address: Option<PostalAddress>,
    /// The visitor's own note, then the record of the web signup and the consent answer,
    /// since Clover ignores `marketingAllowed` from third-party apps.
    pub note: String,
    /// Epoch milliseconds.
    pub customer_since: i64,
}

/// Where customers are delivered: the merchant's Clover account, or the demo stand-in.
/// Both answer the same questions, so the delivery worker does not know which it has.
/// Writes take the moment after which they must not be sent (`send_by`, while the
/// delivery's claim is sure to outlast them); the stand-in, in this process, never waits.
#[derive(Clone)]
pub enum CustomerDirectory {
    Clover(Arc<CloverClient>),
    Demo(DemoClover),
}

impl CustomerDirectory {
    /// Customers whose email addresses include `email` (compared case-insensitively), the
    /// deleted ones left out. `email` as the visitor typed it.
    pub async fn find_by_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        match self {
            Self::Clover(client) => client.find_by_email(email).await,
            Self::Demo(demo) => demo.find_by_email(email).await,
        }
    }

    /// Creates a customer and returns its id.
    pub async fn create(
        &self,
        draft: &CustomerDraft,
        send_by: Instant,
    ) -> Result<String, CloverError> {
        match self {
            Self::Clover(client) => client.create(draft, send_by).await,
            Self::Demo(demo) => demo.create(draft).await,
        }
    }
    /// Gives a customer without a note this one.
    pub async fn add_note(
        &self,
        customer_id: &str,
        note: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        match self {
            Self::Clover(client) => client.add_note(customer_id, note, send_by).await,
            Self::Demo(demo) => demo.add_note(customer_id, note).await,
        }
    }

    pub async fn add_phone(
        &self,
        customer_id: &str,
        phone: &str,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        match self {
            Self::Clover(client) => client.add_phone(customer_id, phone, send_by).await,
            Self::Demo(demo) => demo.add_phone(customer_id, phone).await,
        }
    }

    /// Sets the given names; `None` leaves a name as it is.
    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        send_by: Instant,
    ) -> Result<(), CloverError> {
        match self {
            Self::Clover(client) => {
                client
                    .set_names(customer_id, first_name, last_name, send_by)
                    .await
            }
            Self::Demo(demo) => demo.set_names(customer_id, first_name, last_name).await,
        }
    }

    /// Deletes a customer (the merchant erasing a person here and in Clover). One already
    /// gone counts as deleted.
    pub async fn delete(&self, customer_id: &str) -> Result<(), CloverError> {
        match self {
            Self::Clover(client) => client.delete(customer_id).await,
            Self::Demo(demo) => match demo.delete(customer_id).await {
                Err(CloverError::Rejected { status: 404, .. }) => Ok(()),
                other => other,
            },
        }
    }

    pub fn auth(&self) -> AuthSnapshot {
        match self {
            Self::Clover(client) => client.auth(),
            Self::Demo(_) => AuthSnapshot::ok(),
        }
    }

    /// Takes up a credential another instance of the service stored.
    pub async fn reload_credential(&self) {
        if let Self::Clover(client) = self {
            client.reload_credential().await;
        }
    }

    /// What is left of a pause Clover imposed (a `429`'s `retry-after`), if one runs.
    pub fn paused_for(&self) -> Option<Duration> {
        match self {
            Self::Clover(client) => client.paused_for(),
            Self::Demo(_) => None,
        }
    }

    /// Clover imposed a pause through another instance: keep it here too.
    pub fn pause(&self, wait: Duration) {
        if let Self::Clover(client) = self {
            client.pause(wait);
        }
    }

    /// A whole delivery succeeded, so the credential works (again).
    pub fn delivery_succeeded(&self) {
        if let Self::Clover(client) = self {
            client.delivery_succeeded();
        }
    }
}
