-- Every blob the store holds bytes for, once, whatever the repositories linking it: what
-- garbage collection decides on. `unreferenced_since` (unix ms) is NULL while a manifest in any
-- repository references the blob and set when the last reference goes (or when the bytes came
-- without one: a fresh upload, a blob found in the store); a blob unreferenced for longer than
-- the grace delay may be collected. `deleting_since` marks a blob a collector has begun to
-- delete: its links are gone, its bytes are going, and no upload may claim it until the row is.
-- A claim (an upload about to write the bytes) refreshes `unreferenced_since` and is named by
-- `id`, so a row deleted and created again meanwhile is not mistaken for it.
--
-- Every transaction that adds a reference to a blob updates its row first, and a collector
-- marks a row only with a predicate on the row itself: the row lock orders the two under READ
-- COMMITTED, and the loser sees the winner's write.
CREATE TABLE blobs (
    id                  BIGSERIAL PRIMARY KEY,
    digest              TEXT COLLATE "C" NOT NULL UNIQUE,
    size                BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    unreferenced_since  BIGINT,
    deleting_since      BIGINT
);
CREATE INDEX blobs_unreferenced ON blobs(unreferenced_since) WHERE unreferenced_since IS NOT NULL;
CREATE INDEX manifest_references_blob ON manifest_references(child_digest) WHERE child_kind = 'blob';

INSERT INTO blobs (digest, size, created_at, unreferenced_since)
SELECT b.digest, MAX(b.size), MIN(b.created_at),
       CASE WHEN EXISTS (SELECT 1 FROM manifest_references r
                         WHERE r.child_kind = 'blob' AND r.child_digest = b.digest)
            THEN NULL ELSE (extract(epoch FROM now()) * 1000)::BIGINT END
FROM repository_blobs b GROUP BY b.digest;

-- A link whose manifests were all deleted: the repository no longer reaches the blob (HEAD and
-- GET answer 404, no mount reads it), yet a DELETE of it still answers 202 as the OCI
-- conformance suite expects after a manifest delete, and a manifest put that lists it again (a
-- client re-pushing what it had) revives it. Collection removes it with the blob.
ALTER TABLE repository_blobs ADD COLUMN orphaned_at BIGINT;
