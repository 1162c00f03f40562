-- Search that finds what people type (issue 25): accents and case folded, in any language.
--
-- `silo_search` is 'simple' (no stemmer: titles are in several languages, and a stemmer for one
-- is wrong for the others) with unaccent in front of it, so "Élève" is stored as 'eleve'; `q`
-- words are prefixes (service/files/search.py). unaccent is a trusted extension (PostgreSQL
-- 13+): the database's owner, the role migrations run as (the RDS master user), may create it.
-- Expand only: the previous image keeps using `files.search` and its index; a later migration
-- drops them once no image reads them.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH CONFIGURATION silo_search (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION silo_search
    ALTER MAPPING FOR word, numword, hword, hword_part, hword_numpart WITH unaccent, simple;

-- What `q` searches, and its stored copy `files.search_folded` (filled by the trigger below
-- for new and edited rows, by 0031 for the others). Stored, not an expression index: a page
-- walking files_created_at_id tests each row it passes, and reading a stored tsvector costs
-- about 1 us where computing it costs about 15 (bench/README.md).
CREATE FUNCTION file_search_vector(title text, description text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('silo_search'::regconfig, title || ' ' || coalesce(description, ''));

-- Nullable, no default: adding it rewrites nothing.
ALTER TABLE files ADD COLUMN search_folded tsvector;

CREATE FUNCTION files_search_folded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_folded := file_search_vector(NEW.title, NEW.description);
    RETURN NEW;
END
$$;
CREATE TRIGGER files_search_folded BEFORE INSERT OR UPDATE OF title, description ON files
    FOR EACH ROW EXECUTE FUNCTION files_search_folded();
