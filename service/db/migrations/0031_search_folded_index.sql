-- migrate: no transaction
-- `files.search_folded` for the rows written before 0030's trigger, then the GIN index `q`
-- uses. Outside a transaction, so that neither blocks the previous image, still serving:
-- the backfill commits every 2,000 rows (each batch locks only its rows), and the index is
-- built CONCURRENTLY (a plain CREATE INDEX would block every write to `files` for the whole
-- build). Safe to run again: the backfill skips filled rows, and the DROP removes the invalid
-- index a failed build leaves behind.
DO $$
DECLARE
    last uuid := '00000000-0000-0000-0000-000000000000';
    top uuid;
BEGIN
    LOOP
        top := NULL;
        SELECT id INTO top
        FROM (SELECT id FROM files WHERE id > last ORDER BY id LIMIT 2000) AS batch
        ORDER BY id DESC LIMIT 1;
        EXIT WHEN top IS NULL;
        UPDATE files SET search_folded = file_search_vector(title, description)
        WHERE id > last AND id <= top AND search_folded IS NULL;
        COMMIT;
        last := top;
    END LOOP;
END
$$;
DROP INDEX CONCURRENTLY IF EXISTS files_search_folded;
CREATE INDEX CONCURRENTLY files_search_folded ON files USING gin (search_folded);
