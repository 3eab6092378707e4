-- Secrets Manager's secrets (docs/secrets.md). Values are sealed by the core service under the
-- master key, bound to the secret's ARN and the version's id, so a value copied onto another row
-- does not open; nothing here is a plaintext. A version's id is the ClientRequestToken that made
-- it. A label is on at most one version of a secret: the primary key of `secret_stages` says so.
-- Times are unix ms. Children go with their secret (ON DELETE CASCADE; foreign keys are on).
--
-- Authorization reads a secret's tags (`aws:ResourceTag/*`, `secretsmanager:ResourceTag/*`), so
-- they bump the IAM generation like every table it reads (0005); values, versions and labels
-- are not authorization input and bump nothing.

CREATE TABLE secrets (
    arn              TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    description      TEXT,
    created_at       INTEGER NOT NULL,
    last_changed_at  INTEGER NOT NULL,
    deleted_at       INTEGER,
    deletion_date    INTEGER
);
CREATE INDEX secrets_deletion_date ON secrets (deletion_date) WHERE deletion_date IS NOT NULL;

CREATE TABLE secret_versions (
    arn         TEXT NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
    version_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('string', 'binary')),
    sealed      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (arn, version_id)
);

CREATE TABLE secret_stages (
    arn         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    PRIMARY KEY (arn, stage),
    FOREIGN KEY (arn, version_id) REFERENCES secret_versions(arn, version_id) ON DELETE CASCADE
);

CREATE TABLE secret_tags (
    arn    TEXT NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

CREATE TRIGGER secret_tags_ins_generation AFTER INSERT ON secret_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER secret_tags_upd_generation AFTER UPDATE ON secret_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER secret_tags_del_generation AFTER DELETE ON secret_tags
BEGIN UPDATE iam_generation SET generation = generation + 1 WHERE id = 1; END;
