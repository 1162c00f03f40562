// Drives tus-js-client (the tus client browsers use) against a Silo service, for
// tests/service/uploads/test_tus_clients.py. One JSON argument:
//   {endpoint, file, key, chunkSize, metadata, stopAfter?, uploadUrl?}
// With stopAfter, the process stops once that many bytes are accepted (an interrupted upload);
// with uploadUrl, it resumes that upload. Prints one JSON line: {url, offset, done, fileId}.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const tus = require("tus-js-client");

const args = JSON.parse(process.argv[2]);
const data = readFileSync(args.file);
let fileId = null;

const upload = new tus.Upload(data, {
  endpoint: args.endpoint,
  uploadUrl: args.uploadUrl ?? null,
  headers: { Authorization: `Bearer ${args.key}` },
  chunkSize: args.chunkSize,
  metadata: args.metadata,
  retryDelays: [0, 500, 1000, 2000, 4000],
  onAfterResponse(_req, res) {
    const id = res.getHeader("Silo-File-Id");
    if (id) fileId = id;
  },
  onChunkComplete(_chunkSize, accepted) {
    if (args.stopAfter && accepted >= args.stopAfter) {
      upload.abort(false).then(() => {
        console.log(JSON.stringify({ url: upload.url, offset: accepted, done: false }));
        process.exit(0);
      });
    }
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, offset: data.length, done: true, fileId }));
  },
  onError(error) {
    console.error(`tus-js-client failed: ${error}`);
    process.exit(1);
  },
});
upload.start();
