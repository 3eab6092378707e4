-- What the ECR API adds to repositories and images.
-- Settings and templates are JSON documents owned by the core service (their shape is its
-- business); the store only keeps them whole, so a setting never lands half-written.

ALTER TABLE repositories ADD COLUMN settings TEXT;
ALTER TABLE repositories ADD COLUMN lifecycle_policy TEXT;
ALTER TABLE repositories ADD COLUMN lifecycle_evaluated_at INTEGER;

ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;

-- Parts received through UploadLayerPart: how many, the size of the last one, and whether an
-- earlier part (which was therefore not the last) was under the minimum part size.
ALTER TABLE uploads ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN last_part_size INTEGER;
ALTER TABLE uploads ADD COLUMN undersized_part INTEGER NOT NULL DEFAULT 0;

CREATE TABLE creation_templates (
    prefix      TEXT PRIMARY KEY,
    document    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A fresh registry creates repositories on push, as every registry users know does; the
-- template can be changed or deleted like any other (then pushes to missing names fail).
INSERT INTO creation_templates (prefix, document, created_at, updated_at) VALUES (
    'ROOT',
    '{"description":"Created by Portcullis: repositories are created on first push","appliedFor":["CREATE_ON_PUSH"],"imageTagMutability":"MUTABLE","encryptionConfiguration":{"encryptionType":"AES256"}}',
    CAST(strftime('%s', 'now') AS INTEGER) * 1000,
    CAST(strftime('%s', 'now') AS INTEGER) * 1000
);
