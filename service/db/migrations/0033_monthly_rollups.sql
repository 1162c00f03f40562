-- migrate: no transaction
-- Monthly twins of the two per-day rollups that GET /stats sums over long ranges (issue 25): a
-- year of top files read 366 days of leaders, and the files' figures 730 days of rows. With
-- these, whole months are one row each and only the ragged edges of a range are read by day.
--
-- Kept by triggers on the daily tables themselves, not by the service: every writer of a daily
-- row, whichever image it runs, moves the monthly row with it in the same statement, so the two
-- cannot drift apart, and the previous image, still serving during a deploy, needs no change.
--
-- The triggers first, then the backfill, in batches of files that each overwrite their monthly
-- rows with the daily sums under a lock on the daily table: exact (what the triggers added
-- before a batch is replaced by the sum that includes it; after it, they keep it right), and
-- the writers a batch holds up (the recorder's flushes, which buffer, docs/design/events.md)
-- wait for one batch, not for the whole history (bench/README.md has the times at 10 million
-- files). Safe to run again from the start: every statement replaces or overwrites.
-- Downloads (action 'content') per file and UTC month (its 1st).
CREATE TABLE IF NOT EXISTS access_file_monthly (
    file_id uuid NOT NULL,
    month   date NOT NULL,
    n       bigint NOT NULL,
    -- n and file_id ride in the indexes: both of /stats' reads are index-only.
    PRIMARY KEY (file_id, month) INCLUDE (n)
);
CREATE INDEX IF NOT EXISTS access_file_monthly_leaders ON access_file_monthly (month, n DESC) INCLUDE (file_id);

-- Signed changes of daily rows, summed per month; the same lock order as the daily upsert.
CREATE OR REPLACE FUNCTION access_file_monthly_add(ids uuid[], days date[], ns bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO access_file_monthly AS m (file_id, month, n)
    SELECT d.file_id, date_trunc('month', d.day)::date, sum(d.n)
    FROM unnest(ids, days, ns) AS d(file_id, day, n)
    GROUP BY 1, 2
    HAVING sum(d.n) <> 0
    ORDER BY 1, 2
    ON CONFLICT (file_id, month) DO UPDATE SET n = m.n + EXCLUDED.n
$$;

CREATE OR REPLACE FUNCTION access_file_daily_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM access_file_monthly_add(array_agg(file_id), array_agg(day), array_agg(n))
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM access_file_monthly_add(array_agg(file_id), array_agg(day), array_agg(n))
        FROM (SELECT file_id, day, n FROM new_rows
              UNION ALL SELECT file_id, day, -n FROM old_rows) AS d;
    ELSE
        PERFORM access_file_monthly_add(array_agg(file_id), array_agg(day), array_agg(-n))
        FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER access_file_monthly_insert AFTER INSERT ON access_file_daily
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION access_file_daily_on_change();
CREATE OR REPLACE TRIGGER access_file_monthly_update AFTER UPDATE ON access_file_daily
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION access_file_daily_on_change();
CREATE OR REPLACE TRIGGER access_file_monthly_delete AFTER DELETE ON access_file_daily
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION access_file_daily_on_change();

-- Files and bytes per UTC month (its 1st) and dimension: file_rollup's rows summed by month.
CREATE TABLE IF NOT EXISTS file_rollup_monthly (
    dim   text NOT NULL,
    month date NOT NULL,
    key   text NOT NULL,
    files bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (dim, month, key) INCLUDE (files, bytes)
);

CREATE OR REPLACE FUNCTION file_rollup_monthly_add(
    dims text[], days date[], keys text[], files bigint[], bytes bigint[]
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO file_rollup_monthly AS m (dim, month, key, files, bytes)
    SELECT d.dim, date_trunc('month', d.day)::date, d.key, sum(d.files), sum(d.bytes)
    FROM unnest(dims, days, keys, files, bytes) AS d(dim, day, key, files, bytes)
    GROUP BY 1, 2, 3
    HAVING sum(d.files) <> 0 OR sum(d.bytes) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (dim, month, key)
        DO UPDATE SET files = m.files + EXCLUDED.files, bytes = m.bytes + EXCLUDED.bytes
$$;

CREATE OR REPLACE FUNCTION file_rollup_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM file_rollup_monthly_add(array_agg(dim), array_agg(day), array_agg(key),
                                        array_agg(files), array_agg(bytes))
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM file_rollup_monthly_add(array_agg(dim), array_agg(day), array_agg(key),
                                        array_agg(files), array_agg(bytes))
        FROM (SELECT dim, day, key, files, bytes FROM new_rows
              UNION ALL SELECT dim, day, key, -files, -bytes FROM old_rows) AS d;
    ELSE
        PERFORM file_rollup_monthly_add(array_agg(dim), array_agg(day), array_agg(key),
                                        array_agg(-files), array_agg(-bytes))
        FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER file_rollup_monthly_insert AFTER INSERT ON file_rollup
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_change();
CREATE OR REPLACE TRIGGER file_rollup_monthly_update AFTER UPDATE ON file_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_change();
CREATE OR REPLACE TRIGGER file_rollup_monthly_delete AFTER DELETE ON file_rollup
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_change();

-- The backfill: 256 batches by the first byte of the file id.
DO $$
DECLARE
    low uuid;
    high uuid;
BEGIN
    FOR i IN 0..255 LOOP
        -- Inclusive bounds, so that every batch is one range of the primary key.
        low := (lpad(to_hex(i), 2, '0') || '000000-0000-0000-0000-000000000000')::uuid;
        high := (lpad(to_hex(i), 2, '0') || 'ffffff-ffff-ffff-ffff-ffffffffffff')::uuid;
        LOCK TABLE access_file_daily IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM access_file_monthly WHERE file_id BETWEEN low AND high;
        INSERT INTO access_file_monthly (file_id, month, n)
        SELECT file_id, date_trunc('month', day)::date, sum(n) FROM access_file_daily
        WHERE file_id BETWEEN low AND high
        GROUP BY 1, 2;
        COMMIT;
    END LOOP;
    -- A few thousand rows at most (days times labels): one batch.
    LOCK TABLE file_rollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM file_rollup_monthly;
    INSERT INTO file_rollup_monthly (dim, month, key, files, bytes)
    SELECT dim, date_trunc('month', day)::date, key, sum(files), sum(bytes)
    FROM file_rollup GROUP BY 1, 2, 3;
    COMMIT;
END
$$;
