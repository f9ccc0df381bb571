//! A look at the database that changes nothing in it, for `clover-signup check`: it may run
//! beside a serving instance, whose claims and credential it must leave alone.

use super::{DatabaseLocation, SecretCipher, StorageError, postgres, sqlite};
use crate::clover::vault::{EnteredToken, OAuthPair, SealedCredential, StoredCredential, unseal};

/// How far the database's schema is from this version's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// There is no database (or no table of this service's) yet: the service makes it at
    /// its first start.
    NotCreated,
    /// Migrations to run, which the service runs at start.
    Behind {
        found: usize,
        known: usize,
    },
    Current,
    /// Migrated by a newer version of the service (a rollback): still usable.
    Newer {
        found: usize,
        known: usize,
    },
}

impl SchemaState {
    pub(super) fn of(found: usize, known: usize) -> Self {
        match found {
            0 => Self::NotCreated,
            found if found < known => Self::Behind { found, known },
            found if found > known => Self::Newer { found, known },
            _ => Self::Current,
        }
    }
}

/// What the database holds that a check needs.
pub struct Inspection {
    pub schema: SchemaState,
    /// Sealed: opening them needs `SECRET_KEY`.
    api_token: Option<SealedCredential>,
    oauth: Option<SealedCredential>,
}

impl Inspection {
    /// The API token entered on the admin page, opened with the key.
    pub fn token(&self, cipher: &SecretCipher) -> Result<Option<EnteredToken>, StorageError> {
        Ok(match open(&self.api_token, cipher)? {
            Some(StoredCredential::ApiToken(token)) => Some(token),
            _ => None,
        })
    }

    /// The OAuth pair, opened with the key.
    pub fn pair(&self, cipher: &SecretCipher) -> Result<Option<OAuthPair>, StorageError> {
        Ok(match open(&self.oauth, cipher)? {
            Some(StoredCredential::OAuth(pair)) => Some(pair),
            _ => None,
        })
    }
}

fn open(
    sealed: &Option<SealedCredential>,
    cipher: &SecretCipher,
) -> Result<Option<StoredCredential>, StorageError> {
    sealed
        .clone()
        .map(|sealed| unseal(sealed, cipher))
        .transpose()
}

/// Reads the schema's version and the stored credentials, writing nothing: SQLite is
/// opened read-only (and not at all when the file does not exist), PostgreSQL only read.
pub async fn inspect(location: &DatabaseLocation) -> Result<Inspection, StorageError> {
    let (found, known, api_token, oauth) = match location {
        DatabaseLocation::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::inspect(&path))
                .await
                .map_err(|_| StorageError::TaskFailed)??
        }
        DatabaseLocation::Postgres(url) => postgres::inspect(url).await?,
    };
    let schema = SchemaState::of(found, known);
    // Older schemas may lack columns the credentials are read with; the service migrates
    // them at start, and then they can be checked.
    let readable = matches!(schema, SchemaState::Current | SchemaState::Newer { .. });
    Ok(Inspection {
        schema,
        api_token: api_token.filter(|_| readable),
        oauth: oauth.filter(|_| readable),
    })
}

/// `(schema version found, version known, API token, OAuth pair)`.
pub(super) type Found = (
    usize,
    usize,
    Option<SealedCredential>,
    Option<SealedCredential>,
);
