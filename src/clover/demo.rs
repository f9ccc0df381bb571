use rand::Rng;

use super::{CloverError, CustomerDraft, ExistingCustomer};
use crate::storage::{Database, DemoCustomer, StorageError};

/// The Clover stand-in of demo mode: customers live in the service's own database, so a
/// newcomer sees the whole flow, de-duplication included, without a Clover account.
#[derive(Clone)]
pub struct DemoClover {
    db: Database,
}

impl DemoClover {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        let found = self
            .db
            .store()
            .demo_customers_with_email(email)
            .await
            .map_err(storage)?;
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
        self.db
            .store()
            .add_demo_customer(customer)
            .await
            .map_err(storage)?;
        Ok(id)
    }

    /// Sets the note of a customer that has none; one with a note keeps it.
    pub async fn add_note(&self, customer_id: &str, note: &str) -> Result<(), CloverError> {
        let found = self.db.store().set_empty_demo_note(customer_id, note).await;
        found_or_404(found)
    }

    pub async fn add_phone(&self, customer_id: &str, phone: &str) -> Result<(), CloverError> {
        let found = self.db.store().add_demo_phone(customer_id, phone).await;
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
            .db
            .store()
            .set_demo_names(customer_id, first_name, last_name)
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
