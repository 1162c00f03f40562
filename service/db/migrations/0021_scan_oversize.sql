-- Files too large for the scanning engine (SILO_SCAN_MAX_BYTES, or clamd's StreamMaxLength)
-- get a status of their own, `oversize`, held or served by the tenant's SILO_SCAN_OVERSIZE.
-- Expand-only: the check is widened, never narrowed. The previous image never writes
-- `oversize`, and serves `clean` rows only, so it holds such files whatever the policy.
-- NOT VALID: every existing row passed the narrower check, so none is read to prove it again
-- (new and updated rows are checked); the lock is held for an instant, not a table scan.
ALTER TABLE files DROP CONSTRAINT files_scan_status_check;
ALTER TABLE files ADD CONSTRAINT files_scan_status_check
    CHECK (scan_status IN ('pending', 'clean', 'infected', 'failed', 'oversize')) NOT VALID;
