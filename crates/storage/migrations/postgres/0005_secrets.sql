-- Secrets Manager's secrets: see SQLite's 0010. Values are sealed by the core service; a
-- label is on at most one version of a secret (the primary key of `secret_stages`); children go
-- with their secret. Tags are authorization input and bump the IAM generation; nothing else
-- here does.

CREATE TABLE secrets (
    arn              TEXT COLLATE "C" PRIMARY KEY,
    name             TEXT COLLATE "C" NOT NULL UNIQUE,
    description      TEXT COLLATE "C",
    created_at       BIGINT NOT NULL,
    last_changed_at  BIGINT NOT NULL,
    deleted_at       BIGINT,
    deletion_date    BIGINT
);
CREATE INDEX secrets_deletion_date ON secrets (deletion_date) WHERE deletion_date IS NOT NULL;

CREATE TABLE secret_versions (
    arn         TEXT COLLATE "C" NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
    version_id  TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('string', 'binary')),
    sealed      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    PRIMARY KEY (arn, version_id)
);

CREATE TABLE secret_stages (
    arn         TEXT COLLATE "C" NOT NULL,
    stage       TEXT COLLATE "C" NOT NULL,
    version_id  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (arn, stage),
    FOREIGN KEY (arn, version_id) REFERENCES secret_versions(arn, version_id) ON DELETE CASCADE
);

CREATE TABLE secret_tags (
    arn    TEXT COLLATE "C" NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
    key    TEXT COLLATE "C" NOT NULL,
    value  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (arn, key)
);

CREATE TRIGGER secret_tags_generation AFTER INSERT OR UPDATE OR DELETE ON secret_tags
    FOR EACH ROW EXECUTE FUNCTION bump_iam_generation();
