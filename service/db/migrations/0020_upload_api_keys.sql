-- The API key that created an upload (issue 21): a tus or direct upload is its creating key's,
-- and the file it becomes records that key too, so that a finished upload's URL still answers
-- only its creator. Text, as `uploaded_by` holds a key: a stored key's id, or "admin" for the
-- bootstrap key (SILO_ADMIN_KEY), which has no row.
--
-- Expand-only: nullable, so the rows of the previous image (and those it still writes during a
-- rollout or after a rollback) have none. Such a row is usable by a request that would record
-- the same `uploaded_by` (service/files/domain.py `created_by`); uploads expire within
-- SILO_UPLOAD_EXPIRY_HOURS, so a later contract release can make the upload columns NOT NULL.
ALTER TABLE tus_uploads ADD COLUMN api_key_id text;
ALTER TABLE direct_uploads ADD COLUMN api_key_id text;
ALTER TABLE files ADD COLUMN api_key_id text;
