-- API keys: only a sha256 of each key is stored; the key itself is shown once at creation.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix      text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    scopes      text[] NOT NULL CHECK (cardinality(scopes) > 0
                                       AND scopes <@ ARRAY['read', 'write', 'admin']),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX api_keys_created_at_id ON api_keys (created_at, id);

-- One row per stored object. No tenant column: this database belongs to one tenant.
CREATE TABLE files (
    id            uuid PRIMARY KEY,
    object_key    text NOT NULL UNIQUE,
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description   text CHECK (char_length(description) <= 1000),
    category      text,
    language      text,
    roles         text[] NOT NULL DEFAULT '{}',
    filename      text NOT NULL,
    content_type  text NOT NULL,
    type          text NOT NULL,
    size          bigint NOT NULL CHECK (size > 0),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Who uploaded: an API key id, or "admin" for the bootstrap key. Text, not a foreign key,
    -- so deleting a key keeps the history (and an acting user can be recorded later).
    uploaded_by   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Keyset pagination, newest first: WHERE (created_at, id) < (...) ORDER BY created_at DESC, id DESC.
CREATE INDEX files_created_at_id ON files (created_at, id);
