-- The taxonomy's version: one number that every change to `categories` or `roles` (the names a
-- file object shows for its category_id and role_ids) moves on, in the same transaction. A
-- query that reads it reads, in the same snapshot, the names that go with it, so a rendered
-- file object kept by a service instance (service/rendered_files.py) is known current when its
-- row's version and this one are those it was rendered with.
CREATE TABLE taxonomy_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO taxonomy_version (version) VALUES (1);

CREATE FUNCTION taxonomy_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE taxonomy_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER categories_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON categories
    FOR EACH STATEMENT EXECUTE FUNCTION taxonomy_version_bump();
CREATE TRIGGER roles_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION taxonomy_version_bump();
