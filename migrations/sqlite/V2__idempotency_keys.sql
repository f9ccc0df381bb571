-- The key a form render or an API client sends with a submission, so that a
-- double-click or a retried request is stored once.
ALTER TABLE submissions ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX submissions_by_idempotency_key
    ON submissions (idempotency_key) WHERE idempotency_key IS NOT NULL;
