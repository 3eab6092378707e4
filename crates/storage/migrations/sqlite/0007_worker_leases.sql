-- Background work that one node of a deployment does at a time (the upload reaper, later
-- garbage collection and lifecycle): the node holding an unexpired lease runs it.
-- `expires_at` is unix milliseconds.
CREATE TABLE worker_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
