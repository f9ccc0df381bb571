//! The contract tests of the storage ports, one file per port, run against both
//! databases: every test runs on a fresh SQLite file, and again on a fresh PostgreSQL
//! database when `TEST_POSTGRES_URL` names a cluster. Several `Storage`s opened on one
//! database stand for several instances.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use clover_signup::domain::{FormRules, IdempotencyKey, NewSignup, SignupForm};
use clover_signup::intake::store::{Inserted, NewSubmission, Source};
use clover_signup::storage::{DatabaseLocation, Storage, SubmissionId};

use support::postgres;

/// A store to test: where it is, and what keeps it alive.
struct TestStore {
    location: DatabaseLocation,
    /// The PostgreSQL database's URL, for looking behind the store's back.
    url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = DatabaseLocation::Sqlite(dir.path().join("test.db"));
        Self {
            location,
            url: None,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Option<Self> {
        let url = postgres::fresh_database().await?;
        Some(Self {
            location: DatabaseLocation::parse(&url).unwrap(),
            url: Some(url),
            _dir: None,
        })
    }

    /// One instance of the service on this store.
    async fn instance(&self) -> Storage {
        Storage::open(&self.location).await.unwrap()
    }

    /// Runs `sql` behind the store's back: to set what no port writes, such as the
    /// moment a signup was received.
    async fn execute(&self, sql: &str) {
        match (&self.location, &self.url) {
            (_, Some(url)) => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                let running = tokio::spawn(connection);
                client.batch_execute(sql).await.unwrap();
                drop(client);
                running.await.unwrap().unwrap();
            }
            (DatabaseLocation::Sqlite(path), None) => {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            (other, None) => panic!("no way behind the back of {other:?}"),
        }
    }
}

/// Runs an `async fn(TestStore)` once per store, as `<name>::sqlite` and
/// `<name>::postgres`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::TestStore::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(store) = super::TestStore::postgres().await {
                    super::$name(store).await;
                }
            }
        }
    )*};
}

mod admin;
mod consent;
mod credentials;
mod demo;
mod digests;
mod events;
mod intake;
mod kiosks;
mod mail;
mod queue;

/// Long enough that a loaded machine's pauses do not make a claim run out early.
const LEASE: Duration = Duration::from_secs(1);
const NOTHING: &[SubmissionId] = &[];

fn signup(email: &str) -> NewSignup {
    SignupForm {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some(email.into()),
        ..Default::default()
    }
    .parse(&FormRules::default())
    .unwrap()
}

fn submission(email: &str, source: Source, key: Option<IdempotencyKey>) -> NewSubmission {
    NewSubmission {
        signup: signup(email),
        source,
        source_tag: None,
        consent_text: "consent".into(),
        key,
        consents: Vec::new(),
    }
}

async fn submit(db: &Storage, email: &str) -> Inserted {
    db.submissions()
        .insert(submission(email, Source::Form, None))
        .await
        .unwrap()
}

async fn store_one(db: &Storage) -> SubmissionId {
    submit(db, "ada@example.com").await.id().clone()
}
