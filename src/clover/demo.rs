use std::sync::Arc;

use async_trait::async_trait;
use rand::Rng;

use super::{CloverError, CustomerDraft, ExistingCustomer};
use crate::storage::StorageError;

/// The Clover stand-in of demo mode: customers live in the service's own database (a
/// table of the stand-in's own, apart from the submissions), so a newcomer sees the whole
/// flow, de-duplication included and across restarts, without a Clover account.
#[derive(Clone)]
pub struct DemoClover {
    customers: Arc<dyn DemoCustomers>,
}

/// Where the stand-in keeps its customers. Implemented for SQLite and PostgreSQL in
/// `storage`; the contract tests are `tests/storage/demo.rs`.
#[async_trait]
pub trait DemoCustomers: Send + Sync {
    /// The customers with this email (any case), oldest first.
    async fn with_email(&self, email: &str) -> Result<Vec<DemoCustomer>, StorageError>;
    async fn add(&self, customer: DemoCustomer) -> Result<(), StorageError>;
    /// Returns false when there is no such customer.
    async fn add_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError>;
    /// Sets the note of a customer whose note is empty; a note is never replaced. False
    /// when there is no such customer.
    async fn set_empty_note(&self, id: &str, note: &str) -> Result<bool, StorageError>;
    /// Sets the given names; `None` keeps the stored one. False when there is no such
    /// customer.
    async fn set_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError>;
    /// Deletes the customers made before `cutoff_ms` (`customer_since`, the time of the
    /// signup that made them), for `DATA_RETENTION_DAYS`: the stand-in is this service's
    /// own copy of visitors' data, unlike Clover's. One without a date (none is made so)
    /// goes too, since its age cannot be told. Returns how many.
    async fn erase_before(&self, cutoff_ms: i64) -> Result<usize, StorageError>;
    /// Deletes one customer. False when there is no such customer.
    async fn remove(&self, id: &str) -> Result<bool, StorageError>;
}

/// A customer of the demo stand-in, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCustomer {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub note: Option<String>,
    pub customer_since: Option<i64>,
}

impl DemoClover {
    pub fn new(customers: Arc<dyn DemoCustomers>) -> Self {
        Self { customers }
    }

    /// See [`DemoCustomers::erase_before`].
    pub async fn erase_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.customers.erase_before(cutoff_ms).await
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        let found = self.customers.with_email(email).await.map_err(storage)?;
        Ok(found.into_iter().map(existing).collect())
    }

    pub async fn create(&self, draft: &CustomerDraft) -> Result<String, CloverError> {
        let id = customer_id();
        let customer = DemoCustomer {
            id: id.clone(),
            first_name: draft.first_name.clone(),
            last_name: draft.last_name.clone(),
            emails: vec![draft.email.clone()],
            phones: draft.phone.iter().cloned().collect(),
            note: Some(draft.note.clone()),
            customer_since: Some(draft.customer_since),
        };
        self.customers.add(customer).await.map_err(storage)?;
        Ok(id)
    }

    /// Sets the note of a customer that has none; one with a note keeps it.
    pub async fn add_note(&self, customer_id: &str, note: &str) -> Result<(), CloverError> {
        let found = self.customers.set_empty_note(customer_id, note).await;
        found_or_404(found)
    }

    pub async fn add_phone(&self, customer_id: &str, phone: &str) -> Result<(), CloverError> {
        let found = self.customers.add_phone(customer_id, phone).await;
        found_or_404(found)
    }

    /// Deletes a customer, as the merchant may in Clover.
    pub async fn delete(&self, customer_id: &str) -> Result<(), CloverError> {
        let found = self.customers.remove(customer_id).await;
        found_or_404(found)
    }

    /// Sets the given names; `None` keeps the stored one.
    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<(), CloverError> {
        let found = self
            .customers
            .set_names(customer_id, first_name, last_name)
            .await;
        found_or_404(found)
    }
}

/// No such customer is what Clover's 404 would say.
fn found_or_404(found: Result<bool, StorageError>) -> Result<(), CloverError> {
    match found.map_err(storage)? {
        true => Ok(()),
        false => Err(CloverError::Rejected {
            status: 404,
            message: "Customer not found".to_owned(),
        }),
    }
}

fn existing(customer: DemoCustomer) -> ExistingCustomer {
    ExistingCustomer {
        id: customer.id,
        first_name: customer.first_name,
        last_name: customer.last_name,
        emails: customer.emails,
        phones: customer.phones,
        note: customer.note.filter(|note| !note.trim().is_empty()),
        metadata_read: true,
        customer_since: customer.customer_since,
    }
}

/// An id shaped like Clover's: 13 upper-case letters and digits.
fn customer_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..13)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn storage(error: StorageError) -> CloverError {
    CloverError::Storage(error.to_string())
}
