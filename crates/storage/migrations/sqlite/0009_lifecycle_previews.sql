-- The last lifecycle policy preview of each repository (StartLifecyclePolicyPreview), kept here
-- rather than in a node's memory so that any node answers the GetLifecyclePolicyPreview that
-- follows. One row per repository, replaced by each preview and deleted with the repository
-- (by `delete_repository`, like every row that hangs off one), so that a repository created
-- again under the same name starts without one. `results` is the core service's JSON document
-- of the images the policy expires; `evaluated_at` is unix ms. Not authorization input: no
-- generation trigger.
CREATE TABLE lifecycle_previews (
    repository_id  INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    policy         TEXT NOT NULL,
    results        TEXT NOT NULL,
    evaluated_at   INTEGER NOT NULL
);
