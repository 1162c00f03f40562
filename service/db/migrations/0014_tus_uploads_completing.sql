-- A CompleteMultipartUpload has been sent for the upload (service/resumable.py, `_finish`).
-- S3 drops the multipart upload before the object it assembles is visible (a large object
-- takes seconds to minutes), and a request that timed out may still be completing it: once
-- this is set, "multipart upload gone, object not there" means "not there yet" (503, retry),
-- not "aborted behind the service's back" (the upload ends, 404).
ALTER TABLE tus_uploads ADD COLUMN completing boolean NOT NULL DEFAULT false;
