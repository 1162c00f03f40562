-- Files point at the taxonomy (issue 5): categories and roles by id, languages by code, so a
-- rename is one row and deleting an entry in use is refused by the database itself. Also the
-- indexes behind GET /files filters and the per-day rollup GET /stats reads for files.

ALTER TABLE files
    ADD COLUMN category_id integer REFERENCES categories (id),
    ADD COLUMN role_ids integer[] NOT NULL DEFAULT '{}',
    -- Text search over title and description. 'simple': no stemming, the tenant's files are in
    -- several languages and one language's stemmer would mangle the others.
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, title || ' ' || coalesce(description, ''))
    ) STORED;

-- Carry over labels written before this migration (names become taxonomy entries).
INSERT INTO categories (name)
    SELECT DISTINCT ON (lower(category)) category FROM files WHERE category IS NOT NULL
    ON CONFLICT DO NOTHING;
UPDATE files f SET category_id = c.id FROM categories c WHERE lower(c.name) = lower(f.category);
INSERT INTO languages (code, name)
    SELECT DISTINCT language, language FROM files WHERE language IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO roles (name)
    SELECT DISTINCT ON (lower(name)) name FROM files, unnest(roles) AS name
    ON CONFLICT DO NOTHING;
UPDATE files f SET role_ids = ARRAY(
        SELECT DISTINCT r.id FROM unnest(f.roles) AS u(name) JOIN roles r ON lower(r.name) = lower(u.name)
    )
    WHERE cardinality(f.roles) > 0;
ALTER TABLE files DROP COLUMN category, DROP COLUMN roles;
ALTER TABLE files ADD CONSTRAINT files_language_fkey FOREIGN KEY (language) REFERENCES languages (code);

-- role_ids cannot carry a foreign key; this trigger is one. FOR KEY SHARE makes an admin's
-- concurrent DELETE of the role wait for this transaction (see taxonomy.delete_entry).
CREATE FUNCTION files_check_role_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(NEW.role_ids) > 0 AND (
        SELECT count(*) FROM (SELECT 1 FROM roles WHERE id = ANY (NEW.role_ids) FOR KEY SHARE) r
    ) <> (SELECT count(DISTINCT x) FROM unnest(NEW.role_ids) AS x) THEN
        RAISE foreign_key_violation USING MESSAGE = 'files.role_ids names a role that does not exist';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER files_check_role_ids BEFORE INSERT OR UPDATE OF role_ids ON files
    FOR EACH ROW EXECUTE FUNCTION files_check_role_ids();

-- GET /files: every filter has an index that returns rows already in keyset order
-- (created_at DESC, id DESC, read backwards), so a page stops after `limit` matches whatever
-- the filter. Dates use files_created_at_id (from 0001). Text search and roles: GIN.
CREATE INDEX files_category_created ON files (category_id, created_at, id);
CREATE INDEX files_language_created ON files (language, created_at, id);
CREATE INDEX files_type_created ON files (type, created_at, id);
CREATE INDEX files_role_ids ON files USING gin (role_ids);
CREATE INDEX files_search ON files USING gin (search);
-- Labels are correlated (a tenant's Italian files are mostly in a few categories and types):
-- combination statistics let the planner see a rare or empty combination and read it through
-- the indexes instead of walking the whole list in date order looking for matches.
CREATE STATISTICS files_labels (mcv, ndistinct, dependencies) ON category_id, language, type
    FROM files;
ALTER STATISTICS files_labels SET STATISTICS 1000;

-- Files and bytes per UTC upload day and dimension, kept exact by statement-level triggers
-- (one aggregate upsert per statement, so a COPY of a million rows is one query too).
-- dim: 'total' (key ''), 'category' (categories.id), 'language' (code), 'type' (type id),
-- 'role' (roles.id; '' = no audience set, a file with two roles counts under both).
CREATE TABLE file_rollup (
    dim   text NOT NULL,
    day   date NOT NULL,
    key   text NOT NULL,
    files bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (dim, day, key) INCLUDE (files, bytes)  -- index-only reads for /stats
);

-- A statement's changed rows, signed: +1 for new versions, -1 for old ones.
CREATE TYPE file_rollup_delta AS (
    sign integer, category_id integer, language text, type text, role_ids integer[],
    size bigint, created_at timestamptz
);

CREATE FUNCTION file_rollup_add(deltas file_rollup_delta[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO file_rollup AS r (dim, day, key, files, bytes)
    SELECT d.dim, d.day, d.key, sum(d.sign), sum(d.sign * d.size)
    FROM (
        SELECT f.sign, f.size, (f.created_at AT TIME ZONE 'UTC')::date AS day, k.dim, k.key
        FROM unnest(deltas) AS f
        CROSS JOIN LATERAL (VALUES
            ('total', ''),
            ('category', coalesce(f.category_id::text, '')),
            ('language', coalesce(f.language, '')),
            ('type', f.type)
        ) AS k(dim, key)
        UNION ALL
        SELECT f.sign, f.size, (f.created_at AT TIME ZONE 'UTC')::date, 'role', coalesce(r::text, '')
        FROM unnest(deltas) AS f
        LEFT JOIN LATERAL unnest(f.role_ids) AS r ON true
    ) AS d
    GROUP BY d.dim, d.day, d.key
    HAVING sum(d.sign) <> 0 OR sum(d.sign * d.size) <> 0
    -- Always the same lock order, so concurrent uploads cannot deadlock on rollup rows.
    ORDER BY d.dim, d.day, d.key
    ON CONFLICT (dim, day, key)
        DO UPDATE SET files = r.files + EXCLUDED.files, bytes = r.bytes + EXCLUDED.bytes
$$;

CREATE FUNCTION file_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM file_rollup_add(array_agg(
        ROW(1, category_id, language, type, role_ids, size, created_at)::file_rollup_delta))
    FROM new_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION file_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM file_rollup_add(array_agg(
        ROW(-1, category_id, language, type, role_ids, size, created_at)::file_rollup_delta))
    FROM old_rows;
    RETURN NULL;
END $$;

CREATE FUNCTION file_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM file_rollup_add(array_agg(d)) FROM (
        SELECT ROW(1, category_id, language, type, role_ids, size, created_at)::file_rollup_delta
        FROM new_rows
        UNION ALL
        SELECT ROW(-1, category_id, language, type, role_ids, size, created_at)::file_rollup_delta
        FROM old_rows
    ) AS u(d);
    RETURN NULL;
END $$;

CREATE TRIGGER file_rollup_insert AFTER INSERT ON files REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_insert();
CREATE TRIGGER file_rollup_delete AFTER DELETE ON files REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_delete();
CREATE TRIGGER file_rollup_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION file_rollup_on_update();

-- Files that existed before this migration.
SELECT file_rollup_add(array_agg(
    ROW(1, category_id, language, type, role_ids, size, created_at)::file_rollup_delta))
FROM files HAVING count(*) > 0;
