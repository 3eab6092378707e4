-- Pull-through cache rules (CreatePullThroughCacheRule), one per ECR repository prefix (or
-- ROOT). `document` is the core service's JSON: the upstream's URL and kind, the upstream
-- repository prefix, the Secrets Manager ARN of its credentials (never the credentials).
-- Same shape as creation_templates, so both go through the same document operations.
CREATE TABLE pull_through_cache_rules (
    prefix      TEXT PRIMARY KEY,
    document    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
