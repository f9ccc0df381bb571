//! The consent ledger: see [`crate::consent::ledger`]. The schema's triggers refuse any
//! change to an event, whatever the code asks.

use async_trait::async_trait;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::SqliteStore;
use crate::consent::{ConsentEvent, ConsentKind, ConsentLedger, Erased, PersonKey};
use crate::storage::StorageError;
use crate::storage::records::{EVENT_COLUMNS, EventRow};

#[async_trait]
impl ConsentLedger for SqliteStore {
    async fn record(&self, event: ConsentEvent) -> Result<(), StorageError> {
        self.run(move |c| insert_event(c, &event, None)).await
    }

    async fn history(&self, person: &PersonKey) -> Result<Vec<ConsentEvent>, StorageError> {
        let person = person.clone();
        self.read(move |c| {
            events(
                c,
                &format!("{EVENT_COLUMNS} WHERE e.person = ?1 ORDER BY e.occurred_at, e.rowid"),
                [person.as_ref()],
            )
        })
        .await
    }

    async fn emails_with_phone(&self, phone: &str) -> Result<Vec<String>, StorageError> {
        let phone = phone.to_owned();
        self.run(move |c| {
            let mut statement = c.prepare(
                "SELECT email FROM consent_evidence WHERE phone = ?1
                 UNION SELECT email FROM submissions WHERE phone = ?1 AND email != ''
                 ORDER BY 1",
            )?;
            let emails = statement.query_map([phone], |row| row.get(0))?;
            emails.collect()
        })
        .await
    }

    async fn every_event(&self) -> Result<Vec<ConsentEvent>, StorageError> {
        self.run(|c| {
            events(
                c,
                &format!("{EVENT_COLUMNS} ORDER BY e.occurred_at, e.rowid"),
                [],
            )
        })
        .await
    }

    async fn erase(
        &self,
        person: &PersonKey,
        email: &str,
        erased: ConsentEvent,
    ) -> Result<Erased, StorageError> {
        let (person, email) = (person.clone(), email.to_owned());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM delivery_queue
                 WHERE submission_id IN (SELECT id FROM submissions WHERE email = ?1)",
                [&email],
            )?;
            // A signup not delivered yet is removed with its queue row; a delivered one
            // keeps, as retention leaves it, only what the counts need.
            let removed = tx.execute(
                "DELETE FROM submissions WHERE email = ?1 AND state != 'delivered'",
                [&email],
            )?;
            let scrubbed = tx.execute(
                "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
                     phone = NULL, idempotency_key = NULL, details = NULL
                 WHERE email = ?1",
                [&email],
            )?;
            let submissions = removed + scrubbed;
            let evidence = tx.execute(
                "DELETE FROM consent_evidence
                 WHERE event_id IN (SELECT id FROM consent_events WHERE person = ?1)
                    OR email = ?2",
                params![person.as_ref(), email],
            )?;
            // Events carry the address as the visitor typed it, as a JSON string: quoted,
            // so that erasing ana@… leaves hana@…'s events.
            tx.execute(
                "DELETE FROM event_outbox WHERE instr(lower(body), lower(?1)) > 0",
                [format!("\"{email}\"")],
            )?;
            tx.execute(
                "DELETE FROM visitor_mail WHERE person = ?1 OR email = ?2",
                params![person.as_ref(), email],
            )?;
            let held = tx.execute(
                "DELETE FROM unconfirmed_signups WHERE person = ?1 OR email = ?2",
                params![person.as_ref(), email],
            )?;
            insert_event(&tx, &erased, None)?;
            tx.commit()?;
            super::truncate_log(c)?;
            Ok(Erased {
                submissions: (submissions + held) as u64,
                evidence: evidence as u64,
            })
        })
        .await
    }

    async fn withdrawn_before(&self, cutoff_ms: i64) -> Result<Vec<PersonKey>, StorageError> {
        self.run(move |c| {
            let mut statement = c.prepare(WITHDRAWN_BEFORE)?;
            let people =
                statement.query_map([cutoff_ms], |row| Ok(PersonKey::from_stored(row.get(0)?)))?;
            people.collect()
        })
        .await
    }

    async fn withdrawals_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(PersonKey, ConsentKind, i64)>, StorageError> {
        self.read(move |c| {
            let mut statement = c.prepare(
                "SELECT person, kind, occurred_at FROM consent_events
                 WHERE kind IN ('withdrawn', 'erased') AND occurred_at >= ?1
                 ORDER BY occurred_at, rowid",
            )?;
            let rows = statement.query_map([since_ms], |row| {
                let kind: String = row.get(1)?;
                Ok((
                    PersonKey::from_stored(row.get(0)?),
                    ConsentKind::from_stored(&kind).unwrap_or(ConsentKind::Viewed),
                    row.get(2)?,
                ))
            })?;
            rows.collect()
        })
        .await
    }

    async fn remove_evidence(
        &self,
        person: &PersonKey,
        cutoff_ms: i64,
    ) -> Result<u64, StorageError> {
        let person = person.clone();
        self.run(move |c| {
            let removed = c.execute(
                "DELETE FROM consent_evidence WHERE event_id IN (
                     SELECT id FROM consent_events WHERE person = ?1 AND occurred_at < ?2)",
                params![person.as_ref(), cutoff_ms],
            )?;
            super::truncate_log(c)?;
            Ok(removed as u64)
        })
        .await
    }
}

/// See [`ConsentLedger::withdrawn_before`].
const WITHDRAWN_BEFORE: &str = "SELECT DISTINCT w.person FROM consent_events w
    WHERE w.kind = 'withdrawn' AND w.occurred_at < ?1
      AND EXISTS (SELECT 1 FROM consent_events e JOIN consent_evidence v ON v.event_id = e.id
                  WHERE e.person = w.person)";

/// Adds `event` and its evidence, inside the caller's transaction when there is one; a
/// consent given with a signup names the submission stored with it.
pub(super) fn insert_event(
    connection: &Connection,
    event: &ConsentEvent,
    submission_id: Option<&str>,
) -> rusqlite::Result<()> {
    let wording = event.wording.as_ref();
    connection
        .prepare_cached(
            "INSERT INTO consent_events (id, occurred_at, person, kind, channel, actor,
             consent_text, text_version, language, source, form_id, submission_id,
             needs_confirmation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            event.id,
            event.occurred_at_ms,
            event.person.as_ref(),
            event.kind.as_str(),
            event.channel.map(|c| c.as_str()),
            event.actor.as_str(),
            wording.map(|w| &w.text),
            wording.map(|w| &w.version),
            wording.map(|w| &w.language),
            event.source,
            event.form_id,
            submission_id.or(event.submission_id.as_deref()),
            event.needs_confirmation,
        ])?;
    if let Some(evidence) = &event.evidence {
        connection
            .prepare_cached(
                "INSERT INTO consent_evidence (event_id, email, phone, ip_address, user_agent)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                event.id,
                evidence.email,
                evidence.phone,
                evidence.ip_address,
                evidence.user_agent,
            ])?;
    }
    Ok(())
}

fn events<P: rusqlite::Params>(
    connection: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<Vec<ConsentEvent>> {
    let mut statement = connection.prepare(sql)?;
    let rows = statement.query_map(params, |row: &Row<'_>| {
        Ok(EventRow {
            id: row.get(0)?,
            occurred_at: row.get(1)?,
            person: row.get(2)?,
            kind: row.get(3)?,
            channel: row.get(4)?,
            actor: row.get(5)?,
            text: row.get(6)?,
            version: row.get(7)?,
            language: row.get(8)?,
            source: row.get(9)?,
            form_id: row.get(10)?,
            submission_id: row.get(11)?,
            email: row.get(12)?,
            phone: row.get(13)?,
            ip_address: row.get(14)?,
            user_agent: row.get(15)?,
            needs_confirmation: row.get(16)?,
        }
        .into_event())
    })?;
    rows.collect()
}
