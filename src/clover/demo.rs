use rand::Rng;

use super::{CloverError, CustomerDraft, ExistingCustomer};
use crate::storage::{Database, DemoContact, DemoCustomerRow, StorageError};

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
        let rows = self.db.demo_find_by_email(email).await.map_err(storage)?;
        Ok(rows.into_iter().map(ExistingCustomer::from).collect())
    }

    pub async fn create(&self, draft: &CustomerDraft) -> Result<String, CloverError> {
        let id = customer_id();
        let row = DemoCustomerRow {
            id: id.clone(),
            first_name: draft.first_name.clone(),
            last_name: draft.last_name.clone(),
            emails: vec![draft.email.clone()],
            phones: draft.phone.clone().into_iter().collect(),
            note: Some(draft.note.clone()),
            customer_since: Some(draft.customer_since),
        };
        self.db.demo_insert(row).await.map_err(storage)?;
        Ok(id)
    }

    pub async fn add_email(&self, customer_id: &str, email: &str) -> Result<(), CloverError> {
        self.add_contact(customer_id, DemoContact::Email, email)
            .await
    }

    pub async fn add_phone(&self, customer_id: &str, phone: &str) -> Result<(), CloverError> {
        self.add_contact(customer_id, DemoContact::Phone, phone)
            .await
    }

    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<(), CloverError> {
        let found = self
            .db
            .demo_set_names(
                customer_id,
                first_name.map(str::to_owned),
                last_name.map(str::to_owned),
            )
            .await
            .map_err(storage)?;
        found.then_some(()).ok_or_else(not_found)
    }

    async fn add_contact(
        &self,
        customer_id: &str,
        contact: DemoContact,
        value: &str,
    ) -> Result<(), CloverError> {
        let found = self
            .db
            .demo_add_contact(customer_id, contact, value)
            .await
            .map_err(storage)?;
        found.then_some(()).ok_or_else(not_found)
    }
}

impl From<DemoCustomerRow> for ExistingCustomer {
    fn from(row: DemoCustomerRow) -> Self {
        Self {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            emails: row.emails,
            phones: row.phones,
            note: row.note,
            customer_since: row.customer_since,
        }
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

fn not_found() -> CloverError {
    CloverError::Rejected {
        status: 404,
        message: "Customer not found".to_owned(),
    }
}
