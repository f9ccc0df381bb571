//! The database holds visitors' names, email addresses and phone numbers, so its folder
//! and files are for the service's own user only (0700 and 0600), whatever the umask left
//! by a shell, a service manager or a container. Modes are set explicitly: a mode passed
//! at creation is still reduced by the umask, and a file an earlier version left readable
//! is tightened at the next start.

use std::path::{Path, PathBuf};

use super::StorageError;

/// Owner only: read, write and (for the folder) enter.
const FOLDER_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// What SQLite keeps beside the database file: the write-ahead log, its shared-memory
/// index, and the rollback journal of a database not (yet) in WAL mode.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the database's folder (and any missing above it) for this user only. A folder
/// that already exists is left as it is: it may be shared, like `/tmp`, and the files in
/// it are private anyway.
pub(super) fn create_folder(folder: &Path) -> Result<(), StorageError> {
    if folder.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, FOLDER_MODE);
    builder
        .create(folder)
        .and_then(|()| set_mode(folder, FOLDER_MODE))
        .map_err(|source| StorageError::Folder {
            path: folder.display().to_string(),
            source,
        })
}

/// Makes sure the database file exists and is this user's only, before SQLite opens it:
/// SQLite gives the log and index it creates later the database file's mode.
pub(super) fn prepare_database_file(path: &Path) -> Result<(), StorageError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        // An empty file is an empty database to SQLite.
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(private_file_error(path, source)),
    }
    set_mode(path, FILE_MODE).map_err(|source| private_file_error(path, source))
}

/// Tightens the files SQLite keeps beside the database: once open, in case an earlier
/// version left them readable (SQLite sets the mode only of those it creates).
pub(super) fn tighten_companions(path: &Path) -> Result<(), StorageError> {
    for suffix in COMPANIONS {
        let mut companion = PathBuf::from(path);
        companion.as_mut_os_string().push(suffix);
        match set_mode(&companion, FILE_MODE) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(private_file_error(&companion, source)),
        }
    }
    Ok(())
}

fn private_file_error(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Permissions {
        path: path.display().to_string(),
        source,
    }
}

/// Sets `path`'s permission bits to `mode`, unless they are already so.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions();
    if current.mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Elsewhere the folder's access control list decides; only existence is checked.
#[cfg(not(unix))]
fn set_mode(path: &Path, _mode: u32) -> std::io::Result<()> {
    std::fs::metadata(path).map(|_| ())
}
