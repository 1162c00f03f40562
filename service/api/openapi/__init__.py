"""The OpenAPI 3.1 document served at /openapi.json (schemathesis checks it against the service).

document.py        the document: files, keys, health; merges the parts below
common.py          text patterns, references, error responses, the acting user's headers
taxonomy_stats.py  the taxonomy endpoints, GET /files filters, GET /stats
tus.py             resumable uploads at /uploads
direct.py          direct uploads at /uploads/direct, and the Idempotency-Key header
"""
