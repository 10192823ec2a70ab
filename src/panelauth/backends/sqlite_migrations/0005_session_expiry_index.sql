-- The sweep finds expired sessions by expiry: an index, so it never scans a large store.
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
