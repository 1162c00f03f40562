-- Direct-to-S3 uploads (service/direct.py): what the client declared when it asked for a
-- presigned PUT, so that any instance can verify the object at `complete` and the sweeper can
-- delete what an abandoned one left under `staging/<id>`. The row goes when the upload becomes
-- a file (same transaction as the `files` insert, same id), fails verification, or expires.
CREATE TABLE direct_uploads (
    id            uuid PRIMARY KEY,                -- also the file's id; object staging/<id>
    fields        jsonb NOT NULL,                  -- validated metadata (title, labels by name)
    filename      text NOT NULL,
    content_type  text,                            -- the declared type, if any
    size          bigint NOT NULL CHECK (size > 0),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

CREATE INDEX direct_uploads_expires_at ON direct_uploads (expires_at);

-- Idempotency-Key (service/idempotency.py): one row per key the tenant's clients sent, with a
-- fingerprint of the request that first used it and the id that request created (a file's, or
-- an upload's, which becomes the file's). No tenant column: this database is one tenant's.
CREATE TABLE idempotency_keys (
    key           text PRIMARY KEY CHECK (key ~ '^[!-~]{1,255}$'),
    fingerprint   text NOT NULL,
    resource_id   uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
