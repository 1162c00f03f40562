-- Idempotency-Key scoped to the API key that sent it (issue 21, Stripe's rule): the same value
-- from another key is another key, never a replay of the first one's resource.
--
-- A new table rather than a new column in the primary key of `idempotency_keys`: the previous
-- image claims keys with `ON CONFLICT (key)`, which needs a unique index on `key` alone, so
-- widening that table's key would break it during a rollout or after a rollback. The previous
-- image keeps `idempotency_keys`; this one neither reads nor writes it (an unscoped row cannot
-- say which key may replay it), and a later contract release drops it.
CREATE TABLE idempotency_keys_by_api_key (
    api_key_id    text NOT NULL,                   -- a stored key's id, or "admin" (bootstrap)
    key           text NOT NULL CHECK (key ~ '^[!-~]{1,255}$'),
    fingerprint   text NOT NULL,
    resource_id   uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, key)
);
