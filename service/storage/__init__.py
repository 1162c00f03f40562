"""Object storage: the interface the service codes against, and its implementations.

interface.py   ObjectStorage, ObjectUpload, ResumableUpload, StoredObject: every method's
               contract; StorageError, ObjectMissing; S3's size limits
s3.py          S3Storage, S3Upload, S3ResumableUpload: the boto3 implementation (threads,
               parts, bounded waits); the only module that imports boto3 for storage
discarding.py  DISCARDING: reads nothing into storage (a replayed Idempotency-Key's body)
headers.py     content_disposition: the download's file name in every browser
"""

from service.storage.discarding import DISCARDING, DiscardingStorage
from service.storage.headers import content_disposition
from service.storage.interface import (
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    ObjectMissing,
    ObjectStorage,
    ObjectUpload,
    ResumableUpload,
    StorageError,
    StoredObject,
)
from service.storage.s3 import S3Storage, s3_client

__all__ = [
    "DISCARDING",
    "MAX_PARTS",
    "MAX_SINGLE_PUT",
    "MIN_PART_SIZE",
    "DiscardingStorage",
    "ObjectMissing",
    "ObjectStorage",
    "ObjectUpload",
    "ResumableUpload",
    "S3Storage",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "s3_client",
]
