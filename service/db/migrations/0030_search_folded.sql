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

-- What `q` searches. IMMUTABLE (to_tsvector with a fixed configuration is), so it can be
-- indexed; the index is built concurrently by 0031.
CREATE FUNCTION file_search_vector(title text, description text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('silo_search'::regconfig, title || ' ' || coalesce(description, ''));
