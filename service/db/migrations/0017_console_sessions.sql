-- Console sessions (service/console/sessions.py): a signed-in browser holds only a random token
-- in an HttpOnly cookie; the row says which API key it stands for. The key itself is never
-- stored (its sha256 is, as api_keys stores it), so the console checks it again on every request
-- through the same authenticator as the API.
CREATE TABLE console_sessions (
    token_hash   bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),  -- sha256 of the cookie
    -- The stored key it was opened with; NULL for the bootstrap key (SILO_ADMIN_KEY), which has
    -- no row. Revoking (deleting) the key deletes its sessions in the same statement.
    api_key_id   uuid REFERENCES api_keys (id) ON DELETE CASCADE,
    key_hash     bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    -- Every form and every upload request of the session carries it.
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
CREATE INDEX console_sessions_api_key_id ON console_sessions (api_key_id);
