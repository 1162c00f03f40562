"""SQL for the tables handlers read and write row by row: `files` (files.py) and `api_keys`
(keys.py). Callers pass a connection, so transactions are theirs.

Every other table's SQL lives with the module whose rules it states, one owner per table:

- service/taxonomy.py: `categories`, `languages`, `roles`, `taxonomy_seeded` (unique names,
  "in use" and idempotent seeding are constraints and locks in those statements);
- service/file_filters.py: reads the taxonomy tables to turn filter names into ids;
- service/events.py: writes `access_events`, `access_rollup`, `access_file_daily`;
- service/stats.py: reads them (and `files`) for GET /stats;
- service/migrate.py: `schema_migrations` and the migrations in service/migrations/;
- service/db.py: the pool and the readiness probe;
- service/repository/sessions.py: `console_sessions`, the console's signed-in browsers (the
  rules are service/console/sessions.py's);
- service/repository/uploads.py: `tus_uploads`, the state of resumable uploads (the rules are
  service/resumable.py's), and the advisory lock a PATCH (or a direct upload's `complete`)
  holds;
- service/repository/direct.py: `direct_uploads`, the pending direct-to-S3 uploads (the rules
  are service/direct.py's);
- service/repository/idempotency.py: `idempotency_keys` (the rules are
  service/idempotency.py's);
- service/repository/scans.py: the malware scan's columns of `files` and `file_scan_events` (the
  rules are service/scanning.py's).

No other module runs SQL (tests/service/test_layout.py checks this).
"""
