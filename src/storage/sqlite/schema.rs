use rusqlite::Connection;

/// Each entry moves the schema one version forward; `PRAGMA user_version` records how far
/// a file has come. Entries are never edited once released, only appended.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE submissions (
        id                 TEXT PRIMARY KEY,
        received_at        INTEGER NOT NULL,
        source             TEXT NOT NULL CHECK (source IN ('form', 'api')),
        first_name         TEXT,
        last_name          TEXT,
        email              TEXT NOT NULL,
        phone              TEXT,
        marketing_consent  INTEGER NOT NULL,
        consent_text       TEXT NOT NULL,
        state              TEXT NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts           INTEGER NOT NULL DEFAULT 0,
        last_error         TEXT,
        clover_customer_id TEXT,
        outcome            TEXT CHECK (outcome IN ('created', 'updated', 'linked')),
        delivered_at       INTEGER
    );
    CREATE INDEX submissions_by_received_at ON submissions (received_at);
    CREATE INDEX submissions_by_state ON submissions (state);

    -- One row per submission still to be delivered (the transactional outbox).
    CREATE TABLE delivery_queue (
        submission_id   TEXT PRIMARY KEY REFERENCES submissions (id),
        next_attempt_at INTEGER NOT NULL,
        in_flight       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX delivery_queue_by_due ON delivery_queue (in_flight, next_attempt_at);

    -- Customers of the demo stand-in for Clover.
    CREATE TABLE demo_customers (
        id             TEXT PRIMARY KEY,
        first_name     TEXT,
        last_name      TEXT,
        emails         TEXT NOT NULL DEFAULT '[]',
        phones         TEXT NOT NULL DEFAULT '[]',
        note           TEXT,
        customer_since INTEGER
    );
"#,
    r#"
    -- The key a form render or an API client sends with a submission, so that a
    -- double-click or a retried request is stored once.
    ALTER TABLE submissions ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX submissions_by_idempotency_key
        ON submissions (idempotency_key) WHERE idempotency_key IS NOT NULL;
"#,
    r#"
    -- The merchant's Clover credential: an OAuth pair, or an API token entered on the
    -- admin page. One row. Tokens are encrypted (see storage::cipher).
    CREATE TABLE clover_credentials (
        id                     INTEGER PRIMARY KEY CHECK (id = 1),
        kind                   TEXT NOT NULL CHECK (kind IN ('oauth', 'api_token')),
        merchant_id            TEXT NOT NULL,
        access_token           BLOB NOT NULL,
        access_expires_at      INTEGER,
        refresh_token          BLOB,
        refresh_expires_at     INTEGER,
        previous_refresh_token BLOB,
        last_refresh_at        INTEGER,
        needs_authorization    TEXT,
        updated_at             INTEGER NOT NULL
    );
"#,
    r#"
    -- For an API token entered on the admin page: a digest of the environment's token it
    -- replaced, so that a token set in the environment later wins again.
    ALTER TABLE clover_credentials ADD COLUMN replaces_env_digest TEXT;
"#,
    r#"
    -- A refresh got no answer: its token may only be recovered, never refreshed again.
    ALTER TABLE clover_credentials ADD COLUMN recovery_pending INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
    -- Submissions turned away as bots, by reason: counted, never stored.
    CREATE TABLE bot_counts (
        reason TEXT PRIMARY KEY,
        count  INTEGER NOT NULL
    );
"#,
    r#"
    -- Birthday, address and the visitor's note, when the form asks for them: one JSON
    -- object (see `SignupDetails`), NULL when there are none.
    ALTER TABLE submissions ADD COLUMN details TEXT;
"#,
    r#"
    -- Claims with leases instead of a flag: a claim names the process that holds it and
    -- runs out unless renewed, so a claim whose holder died is taken over. The old flag,
    -- in_flight, stays (always 0 from here on), so an older version rolled back to can
    -- still read the queue.
    ALTER TABLE delivery_queue ADD COLUMN claimed_by TEXT;
    ALTER TABLE delivery_queue ADD COLUMN lease_until INTEGER;
    CREATE INDEX delivery_queue_by_next_attempt ON delivery_queue (next_attempt_at);
    CREATE INDEX delivery_queue_by_lease ON delivery_queue (lease_until)
        WHERE lease_until IS NOT NULL;
    CREATE INDEX delivery_queue_by_holder ON delivery_queue (claimed_by)
        WHERE claimed_by IS NOT NULL;
    -- Running processes and when they were last seen (one, for a SQLite file).
    CREATE TABLE instances (
        id        TEXT PRIMARY KEY,
        last_seen INTEGER NOT NULL
    );
"#,
    r#"
    -- The admin sessions' generation: a session signed under an older one is over.
    CREATE TABLE admin_sessions (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO admin_sessions (id, generation) VALUES (1, 0);
"#,
];

/// The version [`migrate`] brings a database to.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

pub fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    crate::storage::note_newer_schema(current, MIGRATIONS.len());
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}
