//! The counter tablets (see [`crate::kiosk::KioskDevices`]).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::kiosk::{KioskDevice, KioskDevices};
use crate::storage::StorageError;

const COLUMNS: &str = "id, name, created_at_ms, pairing_expires_ms, paired_at_ms, \
                       last_used_at_ms, last_signup_at_ms, revoked_at_ms";

fn device(row: &Row<'_>) -> rusqlite::Result<KioskDevice> {
    Ok(KioskDevice {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at_ms: row.get(2)?,
        pairing_expires_ms: row.get(3)?,
        paired_at_ms: row.get(4)?,
        last_used_at_ms: row.get(5)?,
        last_signup_at_ms: row.get(6)?,
        revoked_at_ms: row.get(7)?,
    })
}

#[async_trait]
impl KioskDevices for SqliteStore {
    async fn add(&self, device: &KioskDevice, pairing_hash: &str) -> Result<(), StorageError> {
        let (device, hash) = (device.clone(), pairing_hash.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO kiosk_devices (id, name, created_at_ms, pairing_hash,
                     pairing_expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    device.id,
                    device.name,
                    device.created_at_ms,
                    hash,
                    device.pairing_expires_ms
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn all(&self) -> Result<Vec<KioskDevice>, StorageError> {
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM kiosk_devices ORDER BY created_at_ms DESC, id"
            ))?;
            statement.query_map([], device)?.collect()
        })
        .await
    }

    async fn find(&self, id: &str) -> Result<Option<(KioskDevice, Option<String>)>, StorageError> {
        let id = id.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS}, cookie_hash FROM kiosk_devices WHERE id = ?1"),
                [id],
                |row| Ok((device(row)?, row.get(8)?)),
            )
            .optional()
        })
        .await
    }

    async fn offer_pairing(
        &self,
        id: &str,
        pairing_hash: &str,
        expires_ms: i64,
    ) -> Result<bool, StorageError> {
        let (id, hash) = (id.to_owned(), pairing_hash.to_owned());
        self.run(move |c| {
            let changed = c.execute(
                "UPDATE kiosk_devices SET pairing_hash = ?2, pairing_expires_ms = ?3
                 WHERE id = ?1 AND revoked_at_ms IS NULL",
                params![id, hash, expires_ms],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn pair(
        &self,
        id: &str,
        pairing_hash: &str,
        cookie_hash: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        let (id, pairing, cookie) = (
            id.to_owned(),
            pairing_hash.to_owned(),
            cookie_hash.to_owned(),
        );
        self.run(move |c| {
            c.query_row(
                "UPDATE kiosk_devices SET cookie_hash = ?3, paired_at_ms = ?4,
                     pairing_hash = NULL, pairing_expires_ms = NULL
                 WHERE id = ?1 AND pairing_hash = ?2 AND pairing_expires_ms > ?4
                   AND revoked_at_ms IS NULL
                 RETURNING name",
                params![id, pairing, cookie, now_ms],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn rename(&self, id: &str, name: &str) -> Result<bool, StorageError> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.run(move |c| {
            let changed = c.execute(
                "UPDATE kiosk_devices SET name = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
                params![id, name],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn revoke(&self, id: &str, now_ms: i64) -> Result<bool, StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            let changed = c.execute(
                "UPDATE kiosk_devices SET revoked_at_ms = COALESCE(revoked_at_ms, ?2),
                     cookie_hash = NULL, pairing_hash = NULL, pairing_expires_ms = NULL
                 WHERE id = ?1",
                params![id, now_ms],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn signed_up(&self, id: &str, now_ms: i64) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE kiosk_devices SET last_signup_at_ms = MAX(COALESCE(last_signup_at_ms, 0), ?2)
                 WHERE id = ?1",
                params![id, now_ms],
            )
            .map(drop)
        })
        .await
    }

    async fn touch(&self, id: &str, now_ms: i64, every_ms: i64) -> Result<(), StorageError> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE kiosk_devices SET last_used_at_ms = ?2
                 WHERE id = ?1 AND (last_used_at_ms IS NULL OR last_used_at_ms <= ?2 - ?3)",
                params![id, now_ms, every_ms],
            )
            .map(drop)
        })
        .await
    }
}
