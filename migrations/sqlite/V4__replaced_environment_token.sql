-- For an API token entered on the admin page: a digest of the environment's token it
-- replaced, so that a token set in the environment later wins again.
ALTER TABLE clover_credentials ADD COLUMN replaces_env_digest TEXT;
