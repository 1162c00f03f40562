-- migrate: no transaction
-- The GIN index `q` uses (0030). Built CONCURRENTLY, which cannot run in a transaction: a plain
-- CREATE INDEX would block every write to `files` for the whole build (about a minute per
-- million files on a small instance). Each statement commits alone; if the build fails halfway
-- it leaves an invalid index, which the DROP removes when the migration is run again.
DROP INDEX CONCURRENTLY IF EXISTS files_search_folded;
CREATE INDEX CONCURRENTLY files_search_folded ON files
    USING gin (file_search_vector(title, description));
