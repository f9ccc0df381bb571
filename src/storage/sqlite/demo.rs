//! Customers of the demo stand-in for Clover (see [`crate::clover::DemoCustomers`]), in a
//! table of their own; emails and phones are JSON lists.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use super::SqliteStore;
use crate::clover::{DemoCustomer, DemoCustomers};
use crate::storage::StorageError;

#[async_trait]
impl DemoCustomers for SqliteStore {
    async fn with_email(&self, email: &str) -> Result<Vec<DemoCustomer>, StorageError> {
        let email = email.to_owned();
        self.run(move |c| with_email(c, &email)).await
    }

    async fn add(&self, customer: DemoCustomer) -> Result<(), StorageError> {
        self.run(move |c| add(c, &customer)).await
    }

    async fn add_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError> {
        let (id, phone) = (id.to_owned(), phone.to_owned());
        self.run(move |c| add_phone(c, &id, &phone)).await
    }

    async fn set_empty_note(&self, id: &str, note: &str) -> Result<bool, StorageError> {
        let (id, note) = (id.to_owned(), note.to_owned());
        self.run(move |c| set_empty_note(c, &id, &note)).await
    }

    async fn set_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError> {
        let id = id.to_owned();
        let (first, last) = (first_name.map(str::to_owned), last_name.map(str::to_owned));
        self.run(move |c| set_names(c, &id, first.as_deref(), last.as_deref()))
            .await
    }

    async fn erase_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| {
            let erased = erase_before(c, cutoff_ms)?;
            if erased > 0 {
                super::truncate_log(c)?;
            }
            Ok(erased)
        })
        .await
    }

    async fn remove(&self, id: &str) -> Result<bool, StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            let removed = c.execute("DELETE FROM demo_customers WHERE id = ?1", [id])?;
            super::truncate_log(c)?;
            Ok(removed > 0)
        })
        .await
    }
}

const COLUMNS: &str = "id, first_name, last_name, emails, phones, note, customer_since";

fn with_email(connection: &mut Connection, email: &str) -> rusqlite::Result<Vec<DemoCustomer>> {
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM demo_customers c WHERE EXISTS
             (SELECT 1 FROM json_each(c.emails) WHERE lower(value) = lower(?1))
         ORDER BY rowid"
    ))?;
    let rows = statement.query_map([email], customer_from_row)?;
    rows.collect()
}

fn add(connection: &mut Connection, customer: &DemoCustomer) -> rusqlite::Result<()> {
    connection.execute(
        &format!("INSERT INTO demo_customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            customer.id,
            customer.first_name,
            customer.last_name,
            json_list(&customer.emails),
            json_list(&customer.phones),
            customer.note,
            customer.customer_since,
        ],
    )?;
    Ok(())
}

fn add_phone(connection: &mut Connection, id: &str, phone: &str) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE demo_customers SET phones = json_insert(phones, '$[#]', ?2) WHERE id = ?1",
        params![id, phone],
    )?;
    Ok(changed > 0)
}

fn set_empty_note(connection: &mut Connection, id: &str, note: &str) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE demo_customers
             SET note = CASE WHEN trim(coalesce(note, '')) = '' THEN ?2 ELSE note END
         WHERE id = ?1",
        params![id, note],
    )?;
    Ok(changed > 0)
}

fn set_names(
    connection: &mut Connection,
    id: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE demo_customers SET first_name = COALESCE(?2, first_name),
             last_name = COALESCE(?3, last_name) WHERE id = ?1",
        params![id, first_name, last_name],
    )?;
    Ok(changed > 0)
}

fn erase_before(connection: &Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
    connection.execute(
        "DELETE FROM demo_customers WHERE customer_since IS NULL OR customer_since < ?1",
        [cutoff_ms],
    )
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<DemoCustomer> {
    let list = |index: usize| -> rusqlite::Result<Vec<String>> {
        let json: String = row.get(index)?;
        Ok(serde_json::from_str(&json).unwrap_or_default())
    };
    Ok(DemoCustomer {
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
