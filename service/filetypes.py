"""The registry of file types Silo accepts, detected from content (magic numbers), not names.

Adding a type is adding one entry. (Detection is being filled in; the ids below are the contract
that tenants.yaml's `allowed_types` is validated against.)
"""

KNOWN_TYPE_IDS: tuple[str, ...] = (
    "pdf",
    "png",
    "jpeg",
    "gif",
    "webp",
    "mp4",
    "mov",
    "m4a",
    "webm",
    "mkv",
    "mp3",
    "wav",
    "ogg",
    "docx",
    "xlsx",
    "pptx",
    "txt",
)
