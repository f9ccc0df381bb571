//! The consent ledger: see [`crate::consent::ledger`]. The schema's trigger refuses any
//! change to an event, whatever the code asks.

use std::sync::LazyLock;

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::consent::{ConsentEvent, ConsentKind, ConsentLedger, Erased, PersonKey};
use crate::intake::store::NewSubmission;
use crate::storage::StorageError;
use crate::storage::records::{EVENT_COLUMNS, EventRow};

#[async_trait]
impl ConsentLedger for PostgresStore {
    async fn record(&self, event: ConsentEvent) -> Result<(), StorageError> {
        let mut columns = GivenColumns::default();
        columns.push(&event, event.submission_id.as_deref());
        let client = self.client().await?;
        let statement = client.prepare_cached(&RECORD).await?;
        client.query_one(&statement, &columns.params()).await?;
        Ok(())
    }

    async fn history(&self, person: &PersonKey) -> Result<Vec<ConsentEvent>, StorageError> {
        // Read for every signup with a box ticked: prepared once per connection, so the
        // server plans it once.
        let client = self.client().await?;
        let statement = client.prepare_cached(&HISTORY).await?;
        let rows = client.query(&statement, &[&person.as_ref()]).await?;
        Ok(rows.iter().map(event_of).collect())
    }

    async fn emails_with_phone(&self, phone: &str) -> Result<Vec<String>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT email FROM consent_evidence WHERE phone = $1
                 UNION SELECT email FROM submissions WHERE phone = $1 AND email != ''
                 ORDER BY 1",
                &[&phone],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn every_event(&self) -> Result<Vec<ConsentEvent>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{EVENT_COLUMNS} ORDER BY e.occurred_at, e.seq"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(event_of).collect())
    }

    async fn erase(
        &self,
        person: &PersonKey,
        email: &str,
        erased: ConsentEvent,
    ) -> Result<Erased, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let submissions = erase_submissions(&tx, email).await?;
        let evidence = tx
            .execute(
                "DELETE FROM consent_evidence
                 WHERE event_id IN (SELECT id FROM consent_events WHERE person = $1)
                    OR email = $2",
                &[&person.as_ref(), &email],
            )
            .await?;
        // Events carry the address as the visitor typed it, as a JSON string: quoted, so
        // that erasing ana@… leaves hana@…'s events.
        tx.execute(
            "DELETE FROM event_outbox WHERE strpos(lower(body), lower($1)) > 0",
            &[&format!("\"{email}\"")],
        )
        .await?;
        tx.execute(
            "DELETE FROM visitor_mail WHERE person = $1 OR email = $2",
            &[&person.as_ref(), &email],
        )
        .await?;
        let held = tx
            .execute(
                "DELETE FROM unconfirmed_signups WHERE person = $1 OR email = $2",
                &[&person.as_ref(), &email],
            )
            .await?;
        let mut columns = GivenColumns::default();
        columns.push(&erased, None);
        tx.query_one(RECORD.as_str(), &columns.params()).await?;
        tx.commit().await?;
        Ok(Erased {
            submissions: submissions + held,
            evidence,
        })
    }

    async fn withdrawn_before(&self, cutoff_ms: i64) -> Result<Vec<PersonKey>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT DISTINCT w.person FROM consent_events w
                 WHERE w.kind = 'withdrawn' AND w.occurred_at < $1
                   AND EXISTS (SELECT 1 FROM consent_events e
                               JOIN consent_evidence v ON v.event_id = e.id
                               WHERE e.person = w.person)",
                &[&cutoff_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| PersonKey::from_stored(row.get(0)))
            .collect())
    }

    async fn withdrawals_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(PersonKey, ConsentKind, i64)>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT person, kind, occurred_at FROM consent_events
                 WHERE kind IN ('withdrawn', 'erased') AND occurred_at >= $1
                 ORDER BY occurred_at, seq",
                &[&since_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let kind: String = row.get(1);
                (
                    PersonKey::from_stored(row.get(0)),
                    ConsentKind::from_stored(&kind).unwrap_or(ConsentKind::Viewed),
                    row.get(2),
                )
            })
            .collect())
    }

    async fn remove_evidence(
        &self,
        person: &PersonKey,
        cutoff_ms: i64,
    ) -> Result<u64, StorageError> {
        Ok(self
            .client()
            .await?
            .execute(
                "DELETE FROM consent_evidence WHERE event_id IN (
                     SELECT id FROM consent_events WHERE person = $1 AND occurred_at < $2)",
                &[&person.as_ref(), &cutoff_ms],
            )
            .await?)
    }
}

fn event_of(row: &Row) -> ConsentEvent {
    EventRow {
        id: row.get(0),
        occurred_at: row.get(1),
        person: row.get(2),
        kind: row.get(3),
        channel: row.get(4),
        actor: row.get(5),
        text: row.get(6),
        version: row.get(7),
        language: row.get(8),
        source: row.get(9),
        form_id: row.get(10),
        submission_id: row.get(11),
        email: row.get(12),
        phone: row.get(13),
        ip_address: row.get(14),
        user_agent: row.get(15),
        needs_confirmation: row.get(16),
    }
    .into_event()
}

/// The columns of an event as [`GivenColumns`] passes them, with their array types.
const EVENT_ARRAYS: [(&str, &str); 13] = [
    ("id", "text"),
    ("occurred_at", "bigint"),
    ("person", "text"),
    ("kind", "text"),
    ("channel", "text"),
    ("actor", "text"),
    ("consent_text", "text"),
    ("text_version", "text"),
    ("language", "text"),
    ("source", "text"),
    ("form_id", "text"),
    ("submission_id", "text"),
    ("needs_confirmation", "boolean"),
];
/// The columns of the evidence, all text.
const EVIDENCE_COLUMNS: [&str; 5] = ["event_id", "email", "phone", "ip_address", "user_agent"];

/// Erases the signups stored for `email`; returns how many. One not delivered yet is
/// removed with its queue row; a delivered one keeps, as retention leaves it, only what
/// the counts need.
async fn erase_submissions(
    tx: &deadpool_postgres::Transaction<'_>,
    email: &str,
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "DELETE FROM delivery_queue
         WHERE submission_id IN (SELECT id FROM submissions WHERE email = $1)",
        &[&email],
    )
    .await?;
    let removed = tx
        .execute(
            "DELETE FROM submissions WHERE email = $1 AND state != 'delivered'",
            &[&email],
        )
        .await?;
    let scrubbed = tx
        .execute(
            "UPDATE submissions SET first_name = NULL, last_name = NULL, email = '',
                 phone = NULL, idempotency_key = NULL, details = NULL
             WHERE email = $1",
            &[&email],
        )
        .await?;
    Ok(removed + scrubbed)
}

/// The `WITH` clauses that add the events of [`GivenColumns`] and their evidence, whose
/// parameters (one array per column, in [`GivenColumns::params`]' order) start at
/// `$first`. After a clause `stored` returning the submissions stored (`id`),
/// `after_stored` adds only the events whose submission was stored: a resend stores
/// neither the signup nor its consent again.
pub(super) fn consent_clauses(first: usize, after_stored: bool) -> String {
    let names = |columns: &[&str]| columns.join(", ");
    let event_columns: Vec<&str> = EVENT_ARRAYS.iter().map(|(name, _)| *name).collect();
    let event_arrays: Vec<String> = EVENT_ARRAYS
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{kind}[]", first + i))
        .collect();
    let evidence_arrays: Vec<String> = (0..EVIDENCE_COLUMNS.len())
        .map(|i| format!("${}::text[]", first + EVENT_ARRAYS.len() + i))
        .collect();
    let only_stored = if after_stored {
        "WHERE e.submission_id IN (SELECT id FROM stored)"
    } else {
        ""
    };
    format!(
        "consented AS (
            INSERT INTO consent_events ({events})
            SELECT {events} FROM unnest({event_arrays}) AS e({events})
            {only_stored}
            RETURNING id),
        evidenced AS (
            INSERT INTO consent_evidence ({evidence})
            SELECT {evidence} FROM unnest({evidence_arrays}) AS v({evidence})
            WHERE v.event_id IN (SELECT id FROM consented)
            RETURNING event_id)",
        events = names(&event_columns),
        event_arrays = event_arrays.join(", "),
        evidence = names(&EVIDENCE_COLUMNS),
        evidence_arrays = evidence_arrays.join(", "),
    )
}

/// A person's events, oldest first.
static HISTORY: LazyLock<String> =
    LazyLock::new(|| format!("{EVENT_COLUMNS} WHERE e.person = $1 ORDER BY e.occurred_at, e.seq"));

/// Adds events of the ledger's own, with their evidence.
pub(super) static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} SELECT (SELECT count(*) FROM consented), (SELECT count(*) FROM evidenced)",
        consent_clauses(1, false)
    )
});

/// Events and their evidence, one array per column, for the statements that store them.
#[derive(Default)]
pub(super) struct GivenColumns {
    id: Vec<String>,
    occurred_at: Vec<i64>,
    person: Vec<String>,
    kind: Vec<&'static str>,
    channel: Vec<Option<&'static str>>,
    actor: Vec<&'static str>,
    text: Vec<Option<String>>,
    version: Vec<Option<String>>,
    language: Vec<Option<String>>,
    source: Vec<Option<String>>,
    form_id: Vec<Option<String>>,
    submission_id: Vec<Option<String>>,
    needs_confirmation: Vec<bool>,
    // The evidence, for the events that have it.
    evidence_event: Vec<String>,
    email: Vec<String>,
    phone: Vec<Option<String>>,
    ip_address: Vec<Option<String>>,
    user_agent: Vec<Option<String>>,
}

impl GivenColumns {
    /// The consents of the submissions in `batch`, each naming its submission's id.
    pub fn of_batch<'a>(batch: impl IntoIterator<Item = (&'a NewSubmission, &'a str)>) -> Self {
        let mut columns = Self::default();
        for (submission, id) in batch {
            for consent in &submission.consents {
                columns.push(consent, Some(id));
            }
        }
        columns
    }

    pub fn push(&mut self, event: &ConsentEvent, submission_id: Option<&str>) {
        let wording = event.wording.as_ref();
        self.id.push(event.id.clone());
        self.occurred_at.push(event.occurred_at_ms);
        self.person.push(event.person.as_ref().to_owned());
        self.kind.push(event.kind.as_str());
        self.channel.push(event.channel.map(|c| c.as_str()));
        self.actor.push(event.actor.as_str());
        self.text.push(wording.map(|w| w.text.clone()));
        self.version.push(wording.map(|w| w.version.clone()));
        self.language.push(wording.map(|w| w.language.clone()));
        self.source.push(event.source.clone());
        self.form_id.push(event.form_id.clone());
        self.submission_id.push(
            submission_id
                .map(str::to_owned)
                .or_else(|| event.submission_id.clone()),
        );
        self.needs_confirmation.push(event.needs_confirmation);
        if let Some(evidence) = &event.evidence {
            self.evidence_event.push(event.id.clone());
            self.email.push(evidence.email.clone());
            self.phone.push(evidence.phone.clone());
            self.ip_address.push(evidence.ip_address.clone());
            self.user_agent.push(evidence.user_agent.clone());
        }
    }

    /// The parameters of [`consent_clauses`], in its order.
    pub fn params(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        vec![
            &self.id,
            &self.occurred_at,
            &self.person,
            &self.kind,
            &self.channel,
            &self.actor,
            &self.text,
            &self.version,
            &self.language,
            &self.source,
            &self.form_id,
            &self.submission_id,
            &self.needs_confirmation,
            &self.evidence_event,
            &self.email,
            &self.phone,
            &self.ip_address,
            &self.user_agent,
        ]
    }
}
