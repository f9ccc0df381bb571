//! The PostgreSQL schema: the SQLite one's final shape, in PostgreSQL's types.

use tokio_postgres::Client;

/// Taken while migrating, so that instances starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x636c_6f76_6572_0001;

/// Each entry moves the schema one version forward; table `schema_version` records how far
/// a database has come. Entries are never edited once released, only appended.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE submissions (
        id                 TEXT PRIMARY KEY,
        -- Arrival order among submissions received in the same millisecond.
        seq                BIGINT GENERATED ALWAYS AS IDENTITY,
        received_at        BIGINT NOT NULL,
        source             TEXT NOT NULL CHECK (source IN ('form', 'api')),
        first_name         TEXT,
        last_name          TEXT,
        email              TEXT NOT NULL,
        phone              TEXT,
        marketing_consent  BOOLEAN NOT NULL,
        consent_text       TEXT NOT NULL,
        state              TEXT NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts           INTEGER NOT NULL DEFAULT 0,
        last_error         TEXT,
        clover_customer_id TEXT,
        outcome            TEXT CHECK (outcome IN ('created', 'updated', 'linked')),
        delivered_at       BIGINT,
        -- The key a form render or an API client sends, so a retry is stored once.
        idempotency_key    TEXT,
        -- Birthday, address and the visitor's note as one JSON object (SignupDetails).
        details            TEXT
    );
    CREATE INDEX submissions_by_received_at ON submissions (received_at);
    CREATE INDEX submissions_by_state ON submissions (state);
    CREATE UNIQUE INDEX submissions_by_idempotency_key
        ON submissions (idempotency_key) WHERE idempotency_key IS NOT NULL;

    -- One row per submission still to be delivered (the transactional outbox). A claim
    -- names the instance holding it and runs out at lease_until unless renewed.
    CREATE TABLE delivery_queue (
        submission_id   TEXT PRIMARY KEY REFERENCES submissions (id),
        next_attempt_at BIGINT NOT NULL,
        claimed_by      TEXT,
        lease_until     BIGINT
    );
    CREATE INDEX delivery_queue_by_due ON delivery_queue (next_attempt_at);
    CREATE INDEX delivery_queue_by_lease ON delivery_queue (lease_until)
        WHERE lease_until IS NOT NULL;
    CREATE INDEX delivery_queue_by_holder ON delivery_queue (claimed_by)
        WHERE claimed_by IS NOT NULL;

    -- Instances of the service and when each was last seen: they share Clover's budget.
    CREATE TABLE instances (
        id        TEXT PRIMARY KEY,
        last_seen BIGINT NOT NULL
    );

    -- The merchant's Clover credential, one row; tokens encrypted (storage::cipher).
    CREATE TABLE clover_credentials (
        id                     INTEGER PRIMARY KEY CHECK (id = 1),
        kind                   TEXT NOT NULL CHECK (kind IN ('oauth', 'api_token')),
        merchant_id            TEXT NOT NULL,
        access_token           BYTEA NOT NULL,
        access_expires_at      BIGINT,
        refresh_token          BYTEA,
        refresh_expires_at     BIGINT,
        previous_refresh_token BYTEA,
        last_refresh_at        BIGINT,
        needs_authorization    TEXT,
        replaces_env_digest    TEXT,
        recovery_pending       BOOLEAN NOT NULL DEFAULT FALSE,
        updated_at             BIGINT NOT NULL
    );

    -- Submissions turned away as bots, by reason: counted, never stored.
    CREATE TABLE bot_counts (
        reason TEXT PRIMARY KEY,
        count  BIGINT NOT NULL
    );

    -- Customers of the demo stand-in for Clover.
    CREATE TABLE demo_customers (
        id             TEXT PRIMARY KEY,
        seq            BIGINT GENERATED ALWAYS AS IDENTITY,
        first_name     TEXT,
        last_name      TEXT,
        emails         TEXT[] NOT NULL DEFAULT '{}',
        phones         TEXT[] NOT NULL DEFAULT '{}',
        note           TEXT,
        customer_since BIGINT
    );
"#,
    r#"
    -- The admin sessions' generation: a session signed under an older one is over.
    CREATE TABLE admin_sessions (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL
    );
    INSERT INTO admin_sessions (id, generation) VALUES (1, 0);
"#,
];

/// The version [`migrate`] brings a database to.
pub(super) fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// The version recorded, 0 when the service never migrated this database; reads only.
pub(super) async fn found_version(client: &Client) -> Result<usize, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = client
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
        .map(|row| row.get(0));
    Ok(version.and_then(|v| usize::try_from(v).ok()).unwrap_or(0))
}

pub(super) async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // A migration may take longer than the pool's limits on ordinary statements, and an
    // instance starting beside another waits for its migration to finish.
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        .await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await?;
    let current: i32 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    let current = usize::try_from(current).unwrap_or(0);
    crate::storage::note_newer_schema(current, MIGRATIONS.len());
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(sql).await?;
        let version = i32::try_from(version + 1).expect("few migrations");
        tx.execute("UPDATE schema_version SET version = $1", &[&version])
            .await?;
    }
    tx.commit().await
}
