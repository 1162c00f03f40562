"""Files: the catalogue of one tenant's stored files, and every rule about them.

domain.py       Files: visibility, read, list, download, update, delete, insert_stored
sql.py          the SQL of `files` (rows are the API's file objects) and list pages
filters.py      GET /files filters -> SQL conditions; taxonomy names -> ids
cursors.py      signed list cursors
renderings.py   file objects rendered once per row version, kept per instance
coalescing.py   concurrent lookups of one kind share a query
metadata.py     the metadata fields (title, description, category, language, roles)
acting_user.py  the X-Silo-* headers: who the request is made for
taxonomy.py     categories, languages, roles: seeding, resolution, admin rules (+ SQL)
countries.py    ISO 3166-1 alpha-2 codes
"""
