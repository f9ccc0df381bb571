//! Checkpoints of the write-ahead log, beside the writers rather than inside a commit.
//! A PASSIVE checkpoint copies what it can without waiting for, or blocking, anyone;
//! commits go on appending to the log meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, StorageError};

/// How often the log is folded into the main file. The log stays small (a second of
/// signups at most), so reads stay fast and a restart has little to replay.
const INTERVAL: Duration = Duration::from_millis(500);

pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Self, StorageError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(INTERVAL);
                    if let Err(error) =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(%error, "a checkpoint of the database log failed");
                    }
                }
            })
            .map_err(|_| StorageError::TaskFailed)?;
        Ok(Self { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
