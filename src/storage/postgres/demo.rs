//! Customers of the demo stand-in for Clover (see [`crate::clover::DemoCustomers`]), in a
//! table of their own; emails and phones are text arrays.

use async_trait::async_trait;
use tokio_postgres::{Client, Row};

use super::PostgresStore;
use crate::clover::{DemoCustomer, DemoCustomers};
use crate::storage::StorageError;

#[async_trait]
impl DemoCustomers for PostgresStore {
    async fn with_email(&self, email: &str) -> Result<Vec<DemoCustomer>, StorageError> {
        with_email(&*self.client().await?, email).await
    }

    async fn add(&self, customer: DemoCustomer) -> Result<(), StorageError> {
        add(&*self.client().await?, &customer).await
    }

    async fn add_phone(&self, id: &str, phone: &str) -> Result<bool, StorageError> {
        add_phone(&*self.client().await?, id, phone).await
    }

    async fn set_empty_note(&self, id: &str, note: &str) -> Result<bool, StorageError> {
        set_empty_note(&*self.client().await?, id, note).await
    }

    async fn set_names(
        &self,
        id: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<bool, StorageError> {
        set_names(&*self.client().await?, id, first_name, last_name).await
    }

    async fn erase_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        erase_before(&*self.client().await?, cutoff_ms).await
    }

    async fn remove(&self, id: &str) -> Result<bool, StorageError> {
        let removed = self
            .client()
            .await?
            .execute("DELETE FROM demo_customers WHERE id = $1", &[&id])
            .await?;
        Ok(removed > 0)
    }
}

const COLUMNS: &str = "id, first_name, last_name, emails, phones, note, customer_since";

async fn with_email(client: &Client, email: &str) -> Result<Vec<DemoCustomer>, StorageError> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM demo_customers c WHERE EXISTS
                     (SELECT 1 FROM unnest(c.emails) AS e WHERE lower(e) = lower($1))
                 ORDER BY seq"
            ),
            &[&email],
        )
        .await?;
    Ok(rows.iter().map(customer_from_row).collect())
}

async fn add(client: &Client, customer: &DemoCustomer) -> Result<(), StorageError> {
    client
        .execute(
            &format!("INSERT INTO demo_customers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &customer.id,
                &customer.first_name,
                &customer.last_name,
                &customer.emails,
                &customer.phones,
                &customer.note,
                &customer.customer_since,
            ],
        )
        .await?;
    Ok(())
}

async fn add_phone(client: &Client, id: &str, phone: &str) -> Result<bool, StorageError> {
    let changed = client
        .execute(
            "UPDATE demo_customers SET phones = array_append(phones, $2) WHERE id = $1",
            &[&id, &phone],
        )
        .await?;
    Ok(changed > 0)
}

async fn set_empty_note(client: &Client, id: &str, note: &str) -> Result<bool, StorageError> {
    let changed = client
        .execute(
            "UPDATE demo_customers
                 SET note = CASE WHEN trim(coalesce(note, '')) = '' THEN $2 ELSE note END
             WHERE id = $1",
            &[&id, &note],
        )
        .await?;
    Ok(changed > 0)
}

async fn set_names(
    client: &Client,
    id: &str,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> Result<bool, StorageError> {
    let changed = client
        .execute(
            "UPDATE demo_customers SET first_name = COALESCE($2, first_name),
                 last_name = COALESCE($3, last_name) WHERE id = $1",
            &[&id, &first_name, &last_name],
        )
        .await?;
    Ok(changed > 0)
}

/// Deletes the stand-in's customers made before `cutoff_ms` (`customer_since`, the time
/// of the signup that made them), for `DATA_RETENTION_DAYS`: the stand-in is this
/// service's own copy of visitors' data, unlike Clover's. One without a date (none is
/// made so) goes too, since its age cannot be told. Demo data is small: one statement.
async fn erase_before(client: &Client, cutoff_ms: i64) -> Result<usize, StorageError> {
    let erased = client
        .execute(
            "DELETE FROM demo_customers WHERE customer_since IS NULL OR customer_since < $1",
            &[&cutoff_ms],
        )
        .await?;
    Ok(usize::try_from(erased).unwrap_or(usize::MAX))
}

fn customer_from_row(row: &Row) -> DemoCustomer {
    DemoCustomer {
        id: row.get(0),
        first_name: row.get(1),
        last_name: row.get(2),
        emails: row.get(3),
        phones: row.get(4),
        note: row.get(5),
        customer_since: row.get(6),
    }
}
