//! `DATABASE_URL`: which store, and where.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// Where the service keeps its data.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    /// One SQLite file, for a single machine.
    Sqlite(PathBuf),
    /// A PostgreSQL database that several instances may share.
    Postgres(PostgresUrl),
}

/// A `postgres://` URL. It usually carries a password, so it is kept secret and shown
/// without it.
#[derive(Clone)]
pub struct PostgresUrl {
    url: SecretString,
    /// `host:port/database`, for messages and logs.
    shown: String,
}

impl PostgresUrl {
    pub(super) fn config(&self) -> tokio_postgres::Config {
        tokio_postgres::Config::from_str(self.url.expose_secret())
            .expect("checked when the location was parsed")
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.shown)
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Self::Postgres(url) => write!(f, "PostgreSQL database {}", url.shown),
        }
    }
}

impl DatabaseLocation {
    /// Reads `DATABASE_URL`. The error says what was expected, never repeating a password.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return parse_postgres(raw).map(Self::Postgres);
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .map(|p| p.split('?').next().unwrap_or(p));
        match path {
            Some(path) if !path.is_empty() && path != ":memory:" => {
                Ok(Self::Sqlite(PathBuf::from(path)))
            }
            // Never the value itself: it may hold a password in another form.
            _ => Err(format!(
                "expected a SQLite file such as sqlite://data/clover-signup.db or \
                 sqlite:///data/clover-signup.db, or a PostgreSQL database such as \
                 postgres://user:password@host:5432/clover_signup; got {}",
                describe_scheme(raw)
            )),
        }
    }
}

/// What kind of value `raw` is, without repeating any of it but a short scheme.
fn describe_scheme(raw: &str) -> String {
    match raw.split_once("://") {
        Some((scheme, _))
            if (1..=20).contains(&scheme.len())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            format!("a {scheme}:// address")
        }
        _ if raw.is_empty() => "an empty value".to_owned(),
        _ => "something else".to_owned(),
    }
}

fn parse_postgres(raw: &str) -> Result<PostgresUrl, String> {
    let config = tokio_postgres::Config::from_str(raw).map_err(|error| {
        // The cause names the option at fault, never its value.
        let cause = std::error::Error::source(&error)
            .map(|cause| format!(": {cause}"))
            .unwrap_or_default();
        format!(
            "not a PostgreSQL connection URL ({error}{cause}); expected \
             postgres://user:password@host:5432/database"
        )
    })?;
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err("the PostgreSQL URL names no host".to_owned());
    }
    let Some(database) = config.get_dbname() else {
        return Err("the PostgreSQL URL names no database: add /database_name".to_owned());
    };
    let host = match &hosts[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Ok(PostgresUrl {
        url: SecretString::from(raw.to_owned()),
        shown: format!("{host}:{port}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        let relative = DatabaseLocation::parse("sqlite://db/x.db").unwrap();
        let absolute = DatabaseLocation::parse("sqlite:///data/x.db?mode=rwc").unwrap();
        assert!(matches!(relative, DatabaseLocation::Sqlite(p) if p.to_str() == Some("db/x.db")));
        assert!(
            matches!(absolute, DatabaseLocation::Sqlite(p) if p.to_str() == Some("/data/x.db"))
        );
    }

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let location =
            DatabaseLocation::parse("postgres://app:hunter2@db.internal:6543/signups").unwrap();
        let shown = format!("{location} {location:?}");
        assert!(shown.contains("db.internal:6543/signups"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn unusable_urls_are_refused_without_repeating_a_password() {
        for raw in [
            "sqlite://:memory:",
            "mysql://root:hunter2@localhost/db",
            "host=db user=app password=hunter2 dbname=signups",
            "postgres://app:hunter2@db.internal:notaport/signups",
            "postgres://app:hunter2@db.internal:5432",
        ] {
            let error = DatabaseLocation::parse(raw).unwrap_err();
            assert!(!error.contains("hunter2"), "{raw}: {error}");
        }
    }
}
