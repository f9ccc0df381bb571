-- The consent ledger. Every event is a row of its own, never changed and never removed:
-- the triggers below refuse both. A person is named by a keyed hash of their email
-- address (`person`); what identifies them (address, phone, IP address, user agent) is
-- kept beside the event in consent_evidence, which an erasure empties while the events
-- stay as proof of what happened and when.
CREATE TABLE consent_events (
    id            TEXT PRIMARY KEY,
    occurred_at   INTEGER NOT NULL,
    person        TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('given', 'confirmed', 'withdrawn', 'erased', 'viewed',
                                  'exported')),
    channel       TEXT CHECK (channel IN ('email', 'sms')),
    actor         TEXT NOT NULL CHECK (actor IN ('visitor', 'merchant')),
    consent_text  TEXT,
    text_version  TEXT,
    language      TEXT,
    source        TEXT,
    form_id       TEXT,
    submission_id TEXT,
    -- A consent given under double opt-in counts once a `confirmed` event follows.
    needs_confirmation INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX consent_events_by_person ON consent_events (person, occurred_at);
-- The consents given with each signup, which the digest counts.
CREATE INDEX consent_events_by_submission ON consent_events (submission_id)
    WHERE submission_id IS NOT NULL;

CREATE TRIGGER consent_events_are_never_changed BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are never changed');
END;
CREATE TRIGGER consent_events_are_never_removed BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are never removed');
END;

-- Who an event was about and where it came from: personal data, removed by an erasure.
CREATE TABLE consent_evidence (
    event_id   TEXT PRIMARY KEY REFERENCES consent_events (id),
    email      TEXT NOT NULL,
    phone      TEXT,
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX consent_evidence_by_phone ON consent_evidence (phone) WHERE phone IS NOT NULL;
CREATE INDEX submissions_by_phone ON submissions (phone) WHERE phone IS NOT NULL;

-- Emails to visitors (a confirmation, a welcome) waiting to be sent: a durable outbox,
-- tried again with growing waits; a sent one is kept for its date (one confirmation a
-- day per address) until retention or an erasure removes it.
CREATE TABLE visitor_mail (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('confirmation', 'welcome')),
    person          TEXT NOT NULL,
    email           TEXT NOT NULL,
    language        TEXT NOT NULL,
    -- The signup waiting for this confirmation (DOUBLE_OPT_IN=all): its link confirms
    -- that one, not whatever was sent later under the same address.
    signup_id       TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_until   INTEGER,
    sent_at         INTEGER,
    -- Sent, dropped (the person withdrew, or was sent one too recently) or given up.
    settled         INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX visitor_mail_by_due ON visitor_mail (next_attempt_at) WHERE NOT settled;
CREATE INDEX visitor_mail_by_person ON visitor_mail (person, kind, sent_at);

-- Signups waiting for their visitor to confirm the address (DOUBLE_OPT_IN=all): not
-- signups yet, so not counted or delivered; stored as one once confirmed, erased after
-- CONFIRMATION_DAYS otherwise.
CREATE TABLE unconfirmed_signups (
    id                TEXT PRIMARY KEY,
    person            TEXT NOT NULL,
    received_at       INTEGER NOT NULL,
    source            TEXT NOT NULL,
    first_name        TEXT,
    last_name         TEXT,
    email             TEXT NOT NULL,
    phone             TEXT,
    marketing_consent INTEGER NOT NULL,
    consent_text      TEXT NOT NULL,
    idempotency_key   TEXT,
    details           TEXT
);
CREATE INDEX unconfirmed_signups_by_person ON unconfirmed_signups (person);
-- A served form is one signup waiting, however often it is sent.
CREATE UNIQUE INDEX unconfirmed_signups_by_idempotency_key
    ON unconfirmed_signups (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX unconfirmed_signups_by_received_at ON unconfirmed_signups (received_at);
