//! Migrations run from `migrations/`: a database left by the version before they moved
//! there (schema version recorded alone, data in it) is adopted without losing anything,
//! migrated to the end, and a released migration edited afterwards stops the start.

// Only its fresh databases are used here.
#[allow(dead_code)]
#[path = "support/postgres.rs"]
mod postgres;

use clover_signup::storage::{DatabaseLocation, Storage};

const SQLITE_BEFORE: &str = include_str!("fixtures/sqlite-before-refinery.sql");
const POSTGRES_BEFORE: &str = include_str!("fixtures/postgres-before-refinery.sql");

/// What the fixtures hold, read back after the migration: every submission, the queue,
/// the bot counts and the admin sessions' generation.
const EXPECTED_ROWS: &[(&str, &str)] = &[
    ("SELECT count(*) FROM submissions", "2"),
    (
        "SELECT email || ' ' || state FROM submissions WHERE id = 'sub-waiting'",
        "ada@example.com pending",
    ),
    (
        "SELECT clover_customer_id FROM submissions WHERE id = 'sub-delivered'",
        "CUST00000001",
    ),
    ("SELECT submission_id FROM delivery_queue", "sub-waiting"),
    (
        "SELECT count FROM bot_counts WHERE reason = 'honeypot'",
        "7",
    ),
    ("SELECT generation FROM admin_sessions", "3"),
];

fn sqlite_value(connection: &rusqlite::Connection, sql: &str) -> String {
    connection
        .query_row(sql, [], |row| {
            Ok(match row.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                rusqlite::types::ValueRef::Text(text) => String::from_utf8_lossy(text).into(),
                other => format!("{other:?}"),
            })
        })
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

#[tokio::test]
async fn a_sqlite_file_from_before_is_adopted_with_its_data_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signups.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SQLITE_BEFORE)
        .unwrap();
    let location = DatabaseLocation::Sqlite(path.clone());

    drop(Storage::open(&location).await.expect("the old file opens"));
    // Opened again: the history written by the adoption is what refinery checks.
    drop(
        Storage::open(&location)
            .await
            .expect("the file opens again"),
    );

    let connection = rusqlite::Connection::open(&path).unwrap();
    for (sql, expected) in EXPECTED_ROWS {
        assert_eq!(sqlite_value(&connection, sql), *expected, "{sql}");
    }
    let history = sqlite_value(
        &connection,
        "SELECT group_concat(version, ',') FROM \
         (SELECT version FROM refinery_schema_history ORDER BY version)",
    );
    assert_eq!(history, every_version("sqlite"));
    assert_eq!(
        sqlite_value(&connection, "PRAGMA user_version"),
        latest_version("sqlite").to_string()
    );
    let claim_flag = sqlite_value(
        &connection,
        "SELECT count(*) FROM pragma_table_info('delivery_queue') WHERE name = 'in_flight'",
    );
    assert_eq!(claim_flag, "0", "the dead claim flag is dropped");
}

#[tokio::test]
async fn a_sqlite_file_whose_released_migration_was_edited_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let location = DatabaseLocation::Sqlite(dir.path().join("signups.db"));
    drop(Storage::open(&location).await.unwrap());
    let DatabaseLocation::Sqlite(path) = &location else {
        unreachable!()
    };
    rusqlite::Connection::open(path)
        .unwrap()
        .execute(
            "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 3",
            [],
        )
        .unwrap();

    let error = Storage::open(&location).await.err().expect("refused");
    assert!(error.to_string().contains("migrat"), "{error}");
}

#[tokio::test]
async fn a_postgres_database_from_before_is_adopted_with_its_data_and_migrated() {
    let Some(url) = postgres::fresh_database().await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(POSTGRES_BEFORE).await.unwrap();
    let location = DatabaseLocation::parse(&url).unwrap();

    drop(
        Storage::open(&location)
            .await
            .expect("the old database opens"),
    );
    drop(Storage::open(&location).await.expect("it opens again"));

    for (sql, expected) in EXPECTED_ROWS {
        let sql = format!("SELECT ({sql})::text");
        let value: String = client.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!(value, *expected, "{sql}");
    }
    let history: String = client
        .query_one(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, every_version("postgres"));
    let version: i32 = client
        .query_one("SELECT version FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, latest_version("postgres"));
}

/// The migrations are compiled into the binary: the image's build must have them, as it
/// has the code.
#[test]
fn the_container_image_is_built_with_the_migrations() {
    let dockerfile = include_str!("../Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|line| line.trim() == "COPY migrations ./migrations"),
        "the Dockerfile does not copy migrations/ into the build"
    );
}

/// How many migrations `migrations/{backend}/` holds: they are numbered from 1 up.
fn latest_version(backend: &str) -> i32 {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(folder)
        .expect("the migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count() as i32
}

/// Every version, in order, as `group_concat` and `string_agg` list them.
fn every_version(backend: &str) -> String {
    (1..=latest_version(backend))
        .map(|version| version.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
