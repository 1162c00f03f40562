-- Resumable uploads (tus 1.0.0, issue 10): the whole state of an upload in progress, so that any
-- instance can continue it. The row goes when the upload becomes a file (same transaction as the
-- `files` insert, same id), is terminated, or expires (the sweeper in service/resumable.py).
CREATE TABLE tus_uploads (
    id            uuid PRIMARY KEY,                -- also the file's id and object key files/<id>
    length        bigint NOT NULL CHECK (length > 0),
    received      bigint NOT NULL DEFAULT 0 CHECK (received BETWEEN 0 AND length),
    fields        jsonb NOT NULL,                  -- validated metadata (title, labels by name)
    filename      text,
    filetype      text,
    metadata      text,                            -- the Upload-Metadata header, echoed by HEAD
    uploaded_by   text NOT NULL,
    type          text,                            -- sniffed type id, once the head has arrived
    s3_upload_id  text,                            -- the multipart upload, once a part is sent
    parts         jsonb NOT NULL DEFAULT '[]',     -- parts sent and committed, in order
    -- The bytes after the last committed part (fewer than a storage part): kept here, in the
    -- same row as `received`, so the two always commit together.
    tail          bytea NOT NULL DEFAULT '',
    -- Every byte is in the object files/<id>; what is left is hashing it and writing the file's
    -- row (done again by the next HEAD, PATCH or sweep if the instance doing it went away).
    stored        boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CHECK (received - octet_length(tail) >= 0)
);

CREATE INDEX tus_uploads_expires_at ON tus_uploads (expires_at);
