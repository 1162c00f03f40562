"""The tenant's PostgreSQL: the pool, the credentials, the schema.

pool.py         the connection pool (autocommit, UTC, no JIT) and the readiness probe
credentials.py  user and password from Secrets Manager, read again after a rotation
migrate.py      plain SQL migrations applied in order under an advisory lock
migrations/     the migrations (expand/contract: each compatible with the previous image)
"""
