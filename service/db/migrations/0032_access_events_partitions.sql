-- Raw access events partitioned by UTC month (issue 25), so that a retention can drop whole old
-- months (service/stats/partitions.py, run by the service now and then) while the rollups
-- /stats reads keep the statistics forever.
--
-- Without downtime and in time independent of the traffic kept: the existing table is not
-- copied but attached as one partition, `access_events_legacy`, holding everything before the
-- start of next month. Its CHECK constraint is validated by one read of the table (about a
-- second per million events) under the table's lock, which only the event recorder's flushes
-- wait for: the previous image, still serving, keeps its events in memory meanwhile (the
-- recorder's buffer, docs/design/events.md). The retention drops the legacy partition when its
-- newest month has aged out. An empty table (a new tenant) is simply replaced.
--
-- Monthly partitions from next month on (three ahead; the service keeps creating them), and a
-- DEFAULT partition so that no insert ever fails, even for a month nobody created.
ALTER TABLE access_events RENAME TO access_events_legacy;
ALTER INDEX access_events_at_brin RENAME TO access_events_legacy_at_brin;

-- The same columns (0011), and the same CHECK constraint names: a partition must have its
-- parent's.
CREATE TABLE access_events (LIKE access_events_legacy INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (at);
CREATE INDEX access_events_at_brin ON access_events USING brin (at);
CREATE TABLE access_events_default PARTITION OF access_events DEFAULT;

DO $$
DECLARE
    this_month timestamptz := date_trunc('month', now(), 'UTC');
    first_new timestamptz := this_month;
    m timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM access_events_legacy) THEN
        first_new := this_month + interval '1 month';
        EXECUTE format(
            'ALTER TABLE access_events_legacy ADD CONSTRAINT access_events_legacy_at '
            'CHECK (at < %L)', first_new);
        -- The CHECK proves the bound: attaching reads nothing more.
        EXECUTE format(
            'ALTER TABLE access_events ATTACH PARTITION access_events_legacy '
            'FOR VALUES FROM (MINVALUE) TO (%L)', first_new);
    ELSE
        DROP TABLE access_events_legacy;
    END IF;
    FOR i IN 0..3 LOOP
        m := first_new + make_interval(months => i);
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF access_events FOR VALUES FROM (%L) TO (%L)',
            'access_events_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'),
            m, m + interval '1 month');
    END LOOP;
END
$$;
