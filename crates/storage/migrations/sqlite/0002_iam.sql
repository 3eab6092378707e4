-- Identities and policies (IAM-compatible), repository and registry policies, resource tags.
-- Secrets are stored sealed (encrypted by the core service); this schema never sees plaintext.

CREATE TABLE iam_users (
    name        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL DEFAULT '/',
    created_at  INTEGER NOT NULL
);

CREATE TABLE iam_groups (
    name        TEXT PRIMARY KEY,
    group_id    TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL DEFAULT '/',
    created_at  INTEGER NOT NULL
);

CREATE TABLE iam_group_members (
    group_name  TEXT NOT NULL REFERENCES iam_groups(name) ON DELETE CASCADE,
    user_name   TEXT NOT NULL REFERENCES iam_users(name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_name)
);

CREATE TABLE iam_roles (
    name                  TEXT PRIMARY KEY,
    role_id               TEXT NOT NULL UNIQUE,
    path                  TEXT NOT NULL DEFAULT '/',
    assume_role_policy    TEXT NOT NULL,
    description           TEXT,
    max_session_duration  INTEGER NOT NULL DEFAULT 3600,
    created_at            INTEGER NOT NULL
);

-- kind: 'user' | 'group' | 'role'
CREATE TABLE iam_principal_tags (
    kind   TEXT NOT NULL,
    owner  TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (kind, owner, key)
);

CREATE TABLE iam_access_keys (
    access_key_id  TEXT PRIMARY KEY,
    user_name      TEXT NOT NULL REFERENCES iam_users(name) ON DELETE CASCADE,
    secret_sealed  BLOB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
);
CREATE INDEX iam_access_keys_user ON iam_access_keys(user_name);

CREATE TABLE iam_inline_policies (
    kind         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    policy_name  TEXT NOT NULL,
    document     TEXT NOT NULL,
    PRIMARY KEY (kind, owner, policy_name)
);

CREATE TABLE iam_managed_policies (
    arn             TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    policy_id       TEXT NOT NULL UNIQUE,
    path            TEXT NOT NULL DEFAULT '/',
    description     TEXT,
    default_version TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE iam_policy_versions (
    policy_arn  TEXT NOT NULL REFERENCES iam_managed_policies(arn) ON DELETE CASCADE,
    version_id  TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (policy_arn, version_id)
);

CREATE TABLE iam_policy_attachments (
    kind        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    policy_arn  TEXT NOT NULL REFERENCES iam_managed_policies(arn),
    PRIMARY KEY (kind, owner, policy_arn)
);

ALTER TABLE repositories ADD COLUMN policy TEXT;

CREATE TABLE repository_tags (
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,
    PRIMARY KEY (repository_id, key)
);

-- One row per registry setting (the registry policy, and later account settings).
CREATE TABLE registry_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
