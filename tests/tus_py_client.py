"""Drives tuspy (the reference Python tus client) against a Silo service, in a process of its
own, for tests/service/uploads/test_tus_clients.py. One JSON argument:
    {endpoint, file, key, chunk_size, metadata, stop_at?, url?, checksum?}
With stop_at, it stops once that many bytes are uploaded (an interrupted upload); with url, it
resumes that upload. Prints one JSON line: {url, offset}."""

from __future__ import annotations

import json
import sys

from tusclient import client


def main() -> None:
    args = json.loads(sys.argv[1])
    tus = client.TusClient(args["endpoint"], headers={"Authorization": f"Bearer {args['key']}"})
    uploader = tus.uploader(
        file_path=args["file"],
        url=args.get("url"),
        chunk_size=args["chunk_size"],
        metadata=args["metadata"],
        retries=3,
        retry_delay=1,
        upload_checksum=args.get("checksum", False),
    )
    uploader.upload(stop_at=args.get("stop_at"))
    print(json.dumps({"url": uploader.url, "offset": uploader.offset}))


if __name__ == "__main__":
    main()
