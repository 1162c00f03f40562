// Drives src/silo.ts against a running service, for tests/service/api/test_typescript_client.py.
// One JSON argument: {baseUrl, key, file, title, out}. Uploads `file`, finds it in the listing,
// downloads it to `out` and reads the stats until they count the download. Prints one JSON line
// of what it saw.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { createSilo, type SiloFile } from "./silo.js";

interface Args {
  baseUrl: string;
  key: string;
  file: string;
  title: string;
  out: string;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const silo = createSilo({ baseUrl: args.baseUrl, key: args.key });
const started = performance.now();
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

const content = readFileSync(args.file);
const uploaded = await silo.upload(new Blob([content]), basename(args.file), {
  title: args.title,
});

let listed: SiloFile | undefined;
let seen = 0;
for await (const file of silo.list()) {
  seen += 1;
  if (file.id === uploaded.id) listed = file;
}

const downloaded = await silo.download(uploaded.id);
writeFileSync(args.out, downloaded);

// Downloads reach /stats once the service flushes its access events (SILO_EVENTS_FLUSH_MS).
const statsDeadline = Date.now() + 15_000;
let stats = await silo.stats();
let top = stats.downloads.top_files.find((entry) => entry.id === uploaded.id);
while (top === undefined && Date.now() < statsDeadline) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  stats = await silo.stats();
  top = stats.downloads.top_files.find((entry) => entry.id === uploaded.id);
}

console.log(
  JSON.stringify({
    uploaded: {
      id: uploaded.id,
      size: uploaded.size,
      sha256: uploaded.sha256,
      type: uploaded.type,
      filename: uploaded.filename,
      scan: uploaded.scan.status,
    },
    listed: { found: listed !== undefined, sha256: listed?.sha256 ?? null, files: seen },
    downloaded: { size: downloaded.byteLength, sha256: sha256(downloaded) },
    stats: { downloads: stats.downloads.count, fileDownloads: top?.downloads ?? 0 },
    ms: Math.round(performance.now() - started),
  }),
);
