//! The outbox of emails to visitors: see [`crate::mail::MailOutbox`].

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::consent::PersonKey;
use crate::delivery::lease::lease_until;
use crate::mail::{MailKind, MailOutbox, VisitorMail};
use crate::storage::{StorageError, now_ms};

#[async_trait]
impl MailOutbox for SqliteStore {
    async fn add(&self, mail: &VisitorMail) -> Result<(), StorageError> {
        let mail = mail.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO visitor_mail (id, kind, person, email, language, signup_id,
                     created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    mail.id,
                    mail.kind.as_str(),
                    mail.person.as_ref(),
                    mail.email,
                    mail.language,
                    mail.signup,
                    mail.created_at_ms
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<VisitorMail>, StorageError> {
        let now = now_ms();
        self.run(move |c| {
            let mut statement = c.prepare(
                "UPDATE visitor_mail SET attempts = attempts + 1, claimed_until = ?2
                 WHERE id IN (SELECT id FROM visitor_mail
                              WHERE NOT settled AND next_attempt_at <= ?1
                                AND (claimed_until IS NULL OR claimed_until < ?1)
                              ORDER BY created_at LIMIT ?3)
                 RETURNING id, kind, person, email, language, created_at, attempts, signup_id",
            )?;
            let rows = statement.query_map(
                params![now, lease_until(now, lease), limit as i64],
                |row| {
                    Ok(VisitorMail {
                        id: row.get(0)?,
                        kind: MailKind::from_stored(&row.get::<_, String>(1)?),
                        person: PersonKey::from_stored(row.get(2)?),
                        email: row.get(3)?,
                        language: row.get(4)?,
                        created_at_ms: row.get(5)?,
                        attempts: row.get(6)?,
                        signup: row.get(7)?,
                    })
                },
            )?;
            let mut mails: Vec<VisitorMail> = rows.collect::<rusqlite::Result<_>>()?;
            mails.sort_by_key(|mail| mail.created_at_ms);
            Ok(mails)
        })
        .await
    }

    async fn sent(&self, id: &str) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE visitor_mail SET settled = 1, sent_at = ?2, claimed_until = NULL
                 WHERE id = ?1",
                params![id, now_ms()],
            )
            .map(drop)
        })
        .await
    }

    async fn settle(&self, id: &str, why: &str) -> Result<(), StorageError> {
        let (id, why) = (id.to_owned(), why.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE visitor_mail SET settled = 1, claimed_until = NULL, last_error = ?2
                 WHERE id = ?1",
                params![id, why],
            )
            .map(drop)
        })
        .await
    }

    async fn retry_at(&self, id: &str, at_ms: i64, error: &str) -> Result<(), StorageError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE visitor_mail SET next_attempt_at = ?2, claimed_until = NULL,
                     last_error = ?3 WHERE id = ?1",
                params![id, at_ms, error],
            )
            .map(drop)
        })
        .await
    }

    async fn last_sent(
        &self,
        person: &PersonKey,
        kind: MailKind,
    ) -> Result<Option<i64>, StorageError> {
        let person = person.clone();
        self.run(move |c| {
            c.query_row(
                "SELECT max(sent_at) FROM visitor_mail WHERE person = ?1 AND kind = ?2",
                params![person.as_ref(), kind.as_str()],
                |row| row.get(0),
            )
        })
        .await
    }

    async fn forget_settled_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM visitor_mail WHERE settled AND created_at < ?1",
                [cutoff_ms],
            )
        })
        .await
    }
}
