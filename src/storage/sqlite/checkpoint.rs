//! Checkpoints of the write-ahead log, beside the writers rather than inside a commit.
//! A PASSIVE checkpoint copies what it can without waiting for, or blocking, anyone;
//! commits go on appending to the log meanwhile.

use std::path::Path;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, StorageError};

/// How often the log is folded into the main file. The log stays small (a second of
/// signups at most), so reads stay fast and a restart has little to replay.
const INTERVAL: Duration = Duration::from_millis(500);

/// Dropping it stops the thread at once: its channel closes.
pub(super) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Self, StorageError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = channel::<()>();
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                // Told once when checkpoints start failing (a full disk fails every one,
                // twice a second) and once when they work again.
                let mut failing = false;
                // Nothing is ever sent: the wait ends by timeout, or at once when the
                // sender is dropped with the database.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(INTERVAL)
                {
                    match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        Err(error) if !failing => {
                            failing = true;
                            tracing::warn!(%error, "a checkpoint of the database log failed; trying again quietly until one works");
                        }
                        Err(_) => {}
                        Ok(()) if failing => {
                            failing = false;
                            tracing::info!("checkpoints of the database log work again");
                        }
                        Ok(()) => {}
                    }
                }
            })
            .map_err(|_| StorageError::TaskFailed)?;
        Ok(Self { _stop: stop })
    }
}
