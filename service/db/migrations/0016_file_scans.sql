-- Malware scanning. Every row starts `pending`, whichever path inserted it (POST /files, tus,
-- direct uploads, an older image during a rollout): the scan worker (service/scanning.py) picks
-- pending rows up, so no path can skip the scan, and a crash leaves them pending to be picked
-- up again. Rows stored before this migration are pending too: they get scanned.
-- Expand-only: the previous image neither reads nor writes these columns.
ALTER TABLE files
    ADD COLUMN scan_status text NOT NULL DEFAULT 'pending'
        CHECK (scan_status IN ('pending', 'clean', 'infected', 'failed')),
    ADD COLUMN scanned_at timestamptz,
    -- Which engine gave the verdict: clamav, guardduty, or none (SILO_SCAN=off).
    ADD COLUMN scan_engine text,
    -- The signature found, or why the scan failed; never shown to a read key.
    ADD COLUMN scan_detail text,
    -- A pending row is not tried before this: a worker's claim (so other instances skip it
    -- while it is scanned; a crashed instance's claim runs out) and the back-off between tries.
    ADD COLUMN scan_due_at timestamptz NOT NULL DEFAULT '-infinity',
    -- Tries that failed because of this file (the scanner being down does not count).
    ADD COLUMN scan_attempts integer NOT NULL DEFAULT 0;

-- Rows stored from now on are due when they are stored, so the queue is first come, first
-- served, retries included. (Set apart from ADD COLUMN: a volatile default there would rewrite
-- the table; existing rows keep '-infinity' and go first.)
ALTER TABLE files ALTER COLUMN scan_due_at SET DEFAULT clock_timestamp();

-- The worker's queue: the next due pending row, read without walking the rows waiting out a
-- back-off (GuardDuty verdicts still to come, a scanner that is down).
CREATE INDEX files_scan_due ON files (scan_due_at, created_at) WHERE scan_status = 'pending';
-- The `GET /files?scan=` filter in keyset order, like the other filters' indexes (0012), and
-- the backlog figures of /metrics (count and oldest of the pending rows).
CREATE INDEX files_scan_created ON files (scan_status, created_at, id);

-- Every verdict, kept after the file's row is deleted: what was refused, when, by which engine.
CREATE TABLE file_scan_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id     uuid NOT NULL,
    object_key  text NOT NULL,
    status      text NOT NULL,
    engine      text NOT NULL,
    detail      text,
    -- What happened to the bytes of an infected file: quarantined (moved under quarantine/) or
    -- deleted; NULL otherwise.
    disposal    text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX file_scan_events_file ON file_scan_events (file_id, at);
