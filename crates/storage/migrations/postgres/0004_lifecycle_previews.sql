-- The last lifecycle policy preview of each repository: see SQLite migration 0009.
CREATE TABLE lifecycle_previews (
    repository_id  BIGINT PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    policy         TEXT COLLATE "C" NOT NULL,
    results        TEXT COLLATE "C" NOT NULL,
    evaluated_at   BIGINT NOT NULL
);
