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
