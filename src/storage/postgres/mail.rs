//! The outbox of emails to visitors: see [`crate::mail::MailOutbox`].

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use crate::consent::PersonKey;
use crate::delivery::lease::lease_until;
use crate::mail::{MailKind, MailOutbox, VisitorMail};
use crate::storage::{StorageError, now_ms};

#[async_trait]
impl MailOutbox for PostgresStore {
    async fn add(&self, mail: &VisitorMail) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO visitor_mail (id, kind, person, email, language, signup_id,
                     created_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                &[
                    &mail.id,
                    &mail.kind.as_str(),
                    &mail.person.as_ref(),
                    &mail.email,
                    &mail.language,
                    &mail.signup,
                    &mail.created_at_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn claim_due(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<VisitorMail>, StorageError> {
        let now = now_ms();
        // Rows another instance is claiming are skipped, not waited for.
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE visitor_mail SET attempts = attempts + 1, claimed_until = $2
                 WHERE id IN (SELECT id FROM visitor_mail
                              WHERE NOT settled AND next_attempt_at <= $1
                                AND (claimed_until IS NULL OR claimed_until < $1)
                              ORDER BY created_at LIMIT $3
                              FOR UPDATE SKIP LOCKED)
                 RETURNING id, kind, person, email, language, created_at, attempts, signup_id",
                &[&now, &lease_until(now, lease), &(limit as i64)],
            )
            .await?;
        let mut mails: Vec<VisitorMail> = rows
            .iter()
            .map(|row| VisitorMail {
                id: row.get(0),
                kind: MailKind::from_stored(row.get(1)),
                person: PersonKey::from_stored(row.get(2)),
                email: row.get(3),
                language: row.get(4),
                created_at_ms: row.get(5),
                attempts: u32::try_from(row.get::<_, i32>(6)).unwrap_or(0),
                signup: row.get(7),
            })
            .collect();
        mails.sort_by_key(|mail| mail.created_at_ms);
        Ok(mails)
    }

    async fn sent(&self, id: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE visitor_mail SET settled = TRUE, sent_at = $2, claimed_until = NULL
                 WHERE id = $1",
                &[&id, &now_ms()],
            )
            .await?;
        Ok(())
    }

    async fn settle(&self, id: &str, why: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE visitor_mail SET settled = TRUE, claimed_until = NULL, last_error = $2
                 WHERE id = $1",
                &[&id, &why],
            )
            .await?;
        Ok(())
    }

    async fn retry_at(&self, id: &str, at_ms: i64, error: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE visitor_mail SET next_attempt_at = $2, claimed_until = NULL,
                     last_error = $3 WHERE id = $1",
                &[&id, &at_ms, &error],
            )
            .await?;
        Ok(())
    }

    async fn last_sent(
        &self,
        person: &PersonKey,
        kind: MailKind,
    ) -> Result<Option<i64>, StorageError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT max(sent_at) FROM visitor_mail WHERE person = $1 AND kind = $2",
                &[&person.as_ref(), &kind.as_str()],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn forget_settled_before(&self, cutoff_ms: i64) -> Result<usize, StorageError> {
        let forgotten = self
            .client()
            .await?
            .execute(
                "DELETE FROM visitor_mail WHERE settled AND created_at < $1",
                &[&cutoff_ms],
            )
            .await?;
        Ok(forgotten as usize)
    }
}
