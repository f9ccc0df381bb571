use rusqlite::{Row, params};

use super::{Database, StorageError};

/// A customer of the demo stand-in, as stored.
#[derive(Debug, Clone)]
pub struct DemoCustomerRow {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub note: Option<String>,
    pub customer_since: Option<i64>,
}

impl DemoCustomerRow {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let list = |index: usize| -> rusqlite::Result<Vec<String>> {
            let json: String = row.get(index)?;
            Ok(serde_json::from_str(&json).unwrap_or_default())
        };
        Ok(Self {
            id: row.get(0)?,
            first_name: row.get(1)?,
            last_name: row.get(2)?,
            emails: list(3)?,
            phones: list(4)?,
            note: row.get(5)?,
            customer_since: row.get(6)?,
        })
    }
}

const COLUMNS: &str = "id, first_name, last_name, emails, phones, note, customer_since";

impl Database {
    pub async fn demo_find_by_email(
        &self,
        email: &str,
    ) -> Result<Vec<DemoCustomerRow>, StorageError> {
        let email = email.to_owned();
        self.run(move |connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {COLUMNS} FROM demo_customers c WHERE EXISTS
                     (SELECT 1 FROM json_each(c.emails) WHERE lower(value) = lower(?1))
                 ORDER BY rowid"
            ))?;
            let rows = statement.query_map([email], DemoCustomerRow::from_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn demo_insert(&self, customer: DemoCustomerRow) -> Result<(), StorageError> {
        self.run(move |connection| {
            connection.execute(
                &format!(
                    "INSERT INTO demo_customers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    customer.id,
                    customer.first_name,
                    customer.last_name,
                    serde_json::to_string(&customer.emails).unwrap_or_default(),
                    serde_json::to_string(&customer.phones).unwrap_or_default(),
                    customer.note,
                    customer.customer_since,
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Appends `value` to the customer's `emails` or `phones` list. Returns false when the
    /// customer does not exist.
    pub async fn demo_add_contact(
        &self,
        customer_id: &str,
        column: DemoContact,
        value: &str,
    ) -> Result<bool, StorageError> {
        let (customer_id, value) = (customer_id.to_owned(), value.to_owned());
        let column = match column {
            DemoContact::Email => "emails",
            DemoContact::Phone => "phones",
        };
        self.run(move |connection| {
            let changed = connection.execute(
                &format!("UPDATE demo_customers SET {column} = json_insert({column}, '$[#]', ?2) WHERE id = ?1"),
                params![customer_id, value],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    /// Sets the given names; `None` keeps the stored one.
    pub async fn demo_set_names(
        &self,
        customer_id: &str,
        first_name: Option<String>,
        last_name: Option<String>,
    ) -> Result<bool, StorageError> {
        let customer_id = customer_id.to_owned();
        self.run(move |connection| {
            let changed = connection.execute(
                "UPDATE demo_customers SET first_name = COALESCE(?2, first_name),
                     last_name = COALESCE(?3, last_name) WHERE id = ?1",
                params![customer_id, first_name, last_name],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn demo_customers(&self) -> Result<Vec<DemoCustomerRow>, StorageError> {
        self.run(|connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {COLUMNS} FROM demo_customers ORDER BY rowid"
            ))?;
            let rows = statement.query_map([], DemoCustomerRow::from_row)?;
            rows.collect()
        })
        .await
    }
}

/// Which contact list of a demo customer to extend.
#[derive(Debug, Clone, Copy)]
pub enum DemoContact {
    Email,
    Phone,
}
