"""Uploads: the three ways bytes become a file, and the rules they share. Every path ends in
`files.domain.Files.insert_stored`.

    rules.py            limits, the type check on first bytes, file names, object keys, cleanup
    filetypes.py        the type registry: detection from the first bytes, content validators
    form.py             POST /files: the multipart body streamed to storage
    multipart.py        the streaming multipart reader
    tus.py              resumable uploads (tus 1.0.0): rules and durable state (HTTP: api/tus.py)
    tus_sql.py          `tus_uploads` and the per-upload advisory lock
    direct.py           direct-to-S3 uploads: declare, presigned PUT, complete
    direct_sql.py       `direct_uploads`
    idempotency.py      Idempotency-Key on the creating operations
    idempotency_sql.py  `idempotency_keys`
"""
