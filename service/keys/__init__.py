"""API keys: who may call, with which scopes.

auth.py    key format, hashing, bearer parsing, scopes, the per-instance key cache
manage.py  create (shown once), list, revoke: the rules of /keys and the console's admin page
sql.py     `api_keys`
"""
