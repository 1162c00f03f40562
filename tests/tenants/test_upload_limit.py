"""The catalogue's upload ceiling and the service's multipart upload agree."""

import inspect

from service.storage import MAX_PARTS, S3Storage
from tenants import schema


def test_the_part_size_and_count_are_the_services():
    part_size = inspect.signature(S3Storage.__init__).parameters["part_size"].default
    assert part_size == schema.UPLOAD_PART_BYTES
    assert schema.S3_MAX_PARTS == MAX_PARTS
    assert part_size * MAX_PARTS >= schema.MAX_UPLOAD_MB * 1024 * 1024
