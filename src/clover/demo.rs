use rand::Rng;
use rusqlite::{Row, params};

use super::{CloverError, CustomerDraft, ExistingCustomer};
use crate::storage::{Database, StorageError};

/// The Clover stand-in of demo mode: customers live in the service's own database (table
/// `demo_customers`), so a newcomer sees the whole flow, de-duplication included, without
/// a Clover account.
#[derive(Clone)]
pub struct DemoClover {
    db: Database,
}

const COLUMNS: &str = "id, first_name, last_name, emails, phones, note, customer_since";

impl DemoClover {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Vec<ExistingCustomer>, CloverError> {
        let email = email.to_owned();
        self.db
            .run(move |connection| {
                let mut statement = connection.prepare(&format!(
                    "SELECT {COLUMNS} FROM demo_customers c WHERE EXISTS
                         (SELECT 1 FROM json_each(c.emails) WHERE lower(value) = lower(?1))
                     ORDER BY rowid"
                ))?;
                let rows = statement.query_map([email], customer_from_row)?;
                rows.collect()
            })
            .await
            .map_err(storage)
    }

    pub async fn create(&self, draft: &CustomerDraft) -> Result<String, CloverError> {
        let id = customer_id();
        let row = (
            id.clone(),
            draft.first_name.clone(),
            draft.last_name.clone(),
            json_list(std::slice::from_ref(&draft.email)),
            json_list(draft.phone.as_slice()),
            draft.note.clone(),
            draft.customer_since,
        );
        self.db
            .run(move |connection| {
                connection.execute(
                    &format!(
                        "INSERT INTO demo_customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ),
                    params![row.0, row.1, row.2, row.3, row.4, row.5, row.6],
                )
            })
            .await
            .map_err(storage)?;
        Ok(id)
    }
    pub async fn add_phone(&self, customer_id: &str, phone: &str) -> Result<(), CloverError> {
        let values = (customer_id.to_owned(), phone.to_owned());
        self.update(move |connection| {
            connection.execute(
                "UPDATE demo_customers SET phones = json_insert(phones, '$[#]', ?2) WHERE id = ?1",
                params![values.0, values.1],
            )
        })
        .await
    }

    /// Sets the given names; `None` keeps the stored one.
    pub async fn set_names(
        &self,
        customer_id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<(), CloverError> {
        let values = (
            customer_id.to_owned(),
            first_name.map(str::to_owned),
            last_name.map(str::to_owned),
        );
        self.update(move |connection| {
            connection.execute(
                "UPDATE demo_customers SET first_name = COALESCE(?2, first_name),
                     last_name = COALESCE(?3, last_name) WHERE id = ?1",
                params![values.0, values.1, values.2],
            )
        })
        .await
    }

    /// Runs an update of one customer; no row changed means no such customer, as Clover's
    /// 404 would say.
    async fn update(
        &self,
        statement: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<usize> + Send + 'static,
    ) -> Result<(), CloverError> {
        match self.db.run(statement).await.map_err(storage)? {
            0 => Err(CloverError::Rejected {
                status: 404,
                message: "Customer not found".to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<ExistingCustomer> {
    let list = |index: usize| -> rusqlite::Result<Vec<String>> {
        let json: String = row.get(index)?;
        Ok(serde_json::from_str(&json).unwrap_or_default())
    };
    Ok(ExistingCustomer {
        id: row.get(0)?,
        first_name: row.get(1)?,
        last_name: row.get(2)?,
        emails: list(3)?,
        phones: list(4)?,
        note: row.get(5)?,
        customer_since: row.get(6)?,
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serialises")
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
