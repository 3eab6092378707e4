-- Who opened each upload session (the caller's ARN, or `anonymous`), so that open sessions
-- can be counted per principal against `[limits] max_uploads_per_principal`. Sessions opened
-- before this column existed have none: they count only towards `max_uploads`.
ALTER TABLE uploads ADD COLUMN principal TEXT;
CREATE INDEX uploads_principal ON uploads(principal);

-- Deleting a repository ends its sessions in the same transaction.
CREATE INDEX uploads_repository ON uploads(repository);
