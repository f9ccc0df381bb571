//! Customers of the demo stand-in for Clover; emails and phones are JSON lists.

use rusqlite::{Connection, Row, params};

use crate::storage::DemoCustomer;

const COLUMNS: &str = "id, first_name, last_name, emails, phones, note, customer_since";

pub(super) fn with_email(
    connection: &mut Connection,
    email: &str,
) -> rusqlite::Result<Vec<DemoCustomer>> {
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM demo_customers c WHERE EXISTS
             (SELECT 1 FROM json_each(c.emails) WHERE lower(value) = lower(?1))
         ORDER BY rowid"
    ))?;
    let rows = statement.query_map([email], customer_from_row)?;
    rows.collect()
}

pub(super) fn add(connection: &mut Connection, customer: &DemoCustomer) -> rusqlite::Result<()> {
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

pub(super) fn add_phone(
    connection: &mut Connection,
    id: &str,
    phone: &str,
) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE demo_customers SET phones = json_insert(phones, '$[#]', ?2) WHERE id = ?1",
        params![id, phone],
    )?;
    Ok(changed > 0)
}

pub(super) fn set_empty_note(
    connection: &mut Connection,
    id: &str,
    note: &str,
) -> rusqlite::Result<bool> {
    let changed = connection.execute(
        "UPDATE demo_customers
             SET note = CASE WHEN trim(coalesce(note, '')) = '' THEN ?2 ELSE note END
         WHERE id = ?1",
        params![id, note],
    )?;
    Ok(changed > 0)
}

pub(super) fn set_names(
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

/// Deletes the stand-in's customers made before `cutoff_ms` (`customer_since`, the time
/// of the signup that made them), for `DATA_RETENTION_DAYS`: the stand-in is this
/// service's own copy of visitors' data, unlike Clover's. One without a date (none is
/// made so) goes too, since its age cannot be told.
pub(super) fn erase_before(connection: &Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
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
