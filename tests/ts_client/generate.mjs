// Generates src/generated/silo-api.ts from Silo's OpenAPI document with openapi-typescript's
// Node API (its CLI gives the same types, save for the one transform below).
//   node generate.mjs http://localhost:8000/openapi.json   (or a path to the JSON document)
// The transform is the one openapi-typescript documents for file uploads: a binary multipart
// part (OpenAPI 3.1 `contentMediaType`, or 3.0's `format: binary`) is a Blob, not a string.
import { mkdirSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [source, out = "src/generated/silo-api.ts"] = process.argv.slice(2);
if (!source) {
  console.error("usage: node generate.mjs <openapi.json URL or path> [out.d.ts]");
  process.exit(2);
}
const BLOB = ts.factory.createTypeReferenceNode("Blob");
const isBinary = (schema) =>
  schema.type === "string" &&
  (schema.format === "binary" || schema.contentMediaType === "application/octet-stream");

const input = /^https?:/.test(source) ? new URL(source) : pathToFileURL(source);
const ast = await openapiTS(input, {
  transform: (schema) => (isBinary(schema) ? BLOB : undefined),
});
mkdirSync(new URL(".", pathToFileURL(out)), { recursive: true });
writeFileSync(out, astToString(ast));
console.error(`openapi-typescript: ${source} -> ${out}`);
