-- Where each upload session stands, so that any node (or a restarted one) can continue it:
-- the bytes accepted, the running hash state after them and the blob backend's own state, all
-- opaque to the database. `claimed_at` marks an append in flight (unix milliseconds); a claim
-- older than the caller's lease counts as abandoned.
ALTER TABLE uploads ADD COLUMN upload_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN hash_state BLOB;
ALTER TABLE uploads ADD COLUMN backend_state TEXT;
ALTER TABLE uploads ADD COLUMN claimed_at INTEGER;
