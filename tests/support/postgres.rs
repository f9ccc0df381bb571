//! A fresh PostgreSQL database for each test, in the throwaway cluster that
//! `TEST_POSTGRES_URL` names (`.ci/postgres start` makes one). Without it the PostgreSQL
//! variants are skipped, except in CI, where skipping them would hide a broken store.

use std::sync::atomic::{AtomicU32, Ordering};

/// The cluster's superuser URL, if tests may use PostgreSQL.
pub fn cluster_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TEST_POSTGRES_URL is not set: the PostgreSQL tests would be skipped"
            );
            None
        }
    }
}

/// Whether the end-to-end tests should run every application on PostgreSQL.
pub fn end_to_end_on_postgres() -> bool {
    std::env::var("TEST_STORE").as_deref() == Ok("postgres")
}

/// Creates an empty database and returns its URL, or `None` (with a note on stderr) when
/// no cluster is configured.
pub async fn fresh_database() -> Option<String> {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let Some(cluster) = cluster_url() else {
        eprintln!("note: TEST_POSTGRES_URL is not set; the PostgreSQL variant is skipped");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&cluster, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot reach the test cluster {cluster}: {error}"));
    let connection = tokio::spawn(connection);
    let name = format!(
        "signup_test_{}_{}_{:08x}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("a test database is created");
    drop(client);
    let _ = connection.await;
    let mut url = url::Url::parse(&cluster).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}
