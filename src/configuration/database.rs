//! `DATABASE_URL`: a SQLite file for one instance, or a PostgreSQL database several share.

use crate::storage::DatabaseLocation;

use super::reader::{Read, Reader};

/// The URL may carry a password: a problem says what is wrong with it, never what it is.
pub(super) fn read(env: &mut Reader<'_>) -> Read<DatabaseLocation> {
    let raw = env
        .value("DATABASE_URL")
        .unwrap_or_else(|| "sqlite://data/clover-signup.db".to_owned());
    DatabaseLocation::parse(&raw).map_err(|problem| env.problem(format!("DATABASE_URL: {problem}")))
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use crate::storage::DatabaseLocation;

    #[test]
    fn database_url_names_a_sqlite_file_or_a_postgres_database() {
        let relative = settings(&[("DATABASE_URL", "sqlite://db/x.db")]).unwrap();
        assert!(
            matches!(relative.database, DatabaseLocation::Sqlite(p) if p.to_str() == Some("db/x.db"))
        );
        let shared = settings(&[("DATABASE_URL", "postgres://app:pw@db:5432/signups")]).unwrap();
        assert!(matches!(shared.database, DatabaseLocation::Postgres(_)));
        let problems = settings(&[("DATABASE_URL", "postgres://app:pw@db:5432")]).unwrap_err();
        assert!(problems.to_string().contains("DATABASE_URL"), "{problems}");
    }
}
