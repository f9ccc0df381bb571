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

/// A PostgreSQL cluster of one test's own, made by `.ci/postgres` in a temporary folder,
/// for a test that stops and starts the database under a running service: the shared
/// cluster cannot be stopped, as other tests use it meanwhile. It comes back on the same
/// port, so the URL the service holds stays right. Stopped and thrown away on drop.
pub struct OwnCluster {
    url: String,
    dir: tempfile::TempDir,
}

impl OwnCluster {
    /// Creates and starts a cluster, or `None` (with a note on stderr) where the tests
    /// have no PostgreSQL: the same condition as the shared cluster's, so CI never skips.
    pub async fn start() -> Option<Self> {
        if cluster_url().is_none() {
            eprintln!(
                "note: TEST_POSTGRES_URL is not set; the test with a cluster of its own is skipped"
            );
            return None;
        }
        // In the temporary folder rather than the build's: the server's socket path
        // lives there and must stay short.
        let dir = tempfile::Builder::new()
            .prefix("pg-own-")
            .tempdir()
            .expect("a temporary folder");
        let path = dir.path().to_owned();
        let url = tokio::task::spawn_blocking(move || run_script("start", &path))
            .await
            .unwrap();
        Some(Self { url, dir })
    }

    /// The superuser URL of the cluster's `postgres` database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server ("fast": open sessions are ended, as in a restart or failover).
    pub async fn stop(&self) {
        let path = self.dir.path().to_owned();
        tokio::task::spawn_blocking(move || run_script("stop", &path))
            .await
            .unwrap();
    }

    /// Starts the server again, on the port it had.
    pub async fn start_again(&self) {
        let path = self.dir.path().to_owned();
        let url = tokio::task::spawn_blocking(move || run_script("start", &path))
            .await
            .unwrap();
        assert_eq!(
            url, self.url,
            "the cluster came back on another port (another program took its port)"
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        // Blocking is fine here: the test is over, and the server must be gone before
        // its folder is removed.
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs `.ci/postgres COMMAND DIR`; for `start`, returns the URL it prints.
fn run_script(command: &str, dir: &std::path::Path) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres");
    let output = std::process::Command::new(script)
        .arg(command)
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!(".ci/postgres cannot be run: {error}"));
    assert!(
        output.status.success(),
        ".ci/postgres {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("TEST_POSTGRES_URL="))
        .map(str::to_owned)
        .unwrap_or_default()
}
