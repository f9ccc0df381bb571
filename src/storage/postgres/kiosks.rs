//! The counter tablets (see [`crate::kiosk::KioskDevices`]).

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::kiosk::{KioskDevice, KioskDevices};
use crate::storage::StorageError;

const COLUMNS: &str = "id, name, created_at_ms, pairing_expires_ms, paired_at_ms, \
                       last_used_at_ms, last_signup_at_ms, revoked_at_ms";

fn device(row: &Row) -> KioskDevice {
    KioskDevice {
        id: row.get(0),
        name: row.get(1),
        created_at_ms: row.get(2),
        pairing_expires_ms: row.get(3),
        paired_at_ms: row.get(4),
        last_used_at_ms: row.get(5),
        last_signup_at_ms: row.get(6),
        revoked_at_ms: row.get(7),
    }
}

#[async_trait]
impl KioskDevices for PostgresStore {
    async fn add(&self, device: &KioskDevice, pairing_hash: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO kiosk_devices (id, name, created_at_ms, pairing_hash,
                     pairing_expires_ms) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &device.id,
                    &device.name,
                    &device.created_at_ms,
                    &pairing_hash,
                    &device.pairing_expires_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn all(&self) -> Result<Vec<KioskDevice>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM kiosk_devices ORDER BY created_at_ms DESC, id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(device).collect())
    }

    async fn find(&self, id: &str) -> Result<Option<(KioskDevice, Option<String>)>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS}, cookie_hash FROM kiosk_devices WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.map(|row| (device(&row), row.get(8))))
    }

    async fn offer_pairing(
        &self,
        id: &str,
        pairing_hash: &str,
        expires_ms: i64,
    ) -> Result<bool, StorageError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE kiosk_devices SET pairing_hash = $2, pairing_expires_ms = $3
                 WHERE id = $1 AND revoked_at_ms IS NULL",
                &[&id, &pairing_hash, &expires_ms],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn pair(
        &self,
        id: &str,
        pairing_hash: &str,
        cookie_hash: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE kiosk_devices SET cookie_hash = $3, paired_at_ms = $4,
                     pairing_hash = NULL, pairing_expires_ms = NULL
                 WHERE id = $1 AND pairing_hash = $2 AND pairing_expires_ms > $4
                   AND revoked_at_ms IS NULL
                 RETURNING name",
                &[&id, &pairing_hash, &cookie_hash, &now_ms],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn rename(&self, id: &str, name: &str) -> Result<bool, StorageError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE kiosk_devices SET name = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                &[&id, &name],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn revoke(&self, id: &str, now_ms: i64) -> Result<bool, StorageError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE kiosk_devices SET revoked_at_ms = COALESCE(revoked_at_ms, $2),
                     cookie_hash = NULL, pairing_hash = NULL, pairing_expires_ms = NULL
                 WHERE id = $1",
                &[&id, &now_ms],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn signed_up(&self, id: &str, now_ms: i64) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE kiosk_devices
                 SET last_signup_at_ms = GREATEST(COALESCE(last_signup_at_ms, 0), $2)
                 WHERE id = $1",
                &[&id, &now_ms],
            )
            .await?;
        Ok(())
    }

    async fn touch(&self, id: &str, now_ms: i64, every_ms: i64) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE kiosk_devices SET last_used_at_ms = $2
                 WHERE id = $1 AND (last_used_at_ms IS NULL OR last_used_at_ms <= $2::BIGINT - $3::BIGINT)",
                &[&id, &now_ms, &every_ms],
            )
            .await?;
        Ok(())
    }
}
