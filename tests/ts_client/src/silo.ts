// A tenant's client of Silo, typed by the types openapi-typescript generates from the service's
// OpenAPI document (generate.mjs), calling it through openapi-fetch. What a TypeScript backend
// (a NestJS service, say) would wrap in its own provider.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/silo-api.js";

export type SiloFile = components["schemas"]["File"];
export type Stats = components["schemas"]["Stats"];
export type Metadata = Omit<components["schemas"]["FileUpload"], "file">;
type ApiError = components["schemas"]["Error"];

export class SiloError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError | undefined,
  ) {
    super(`Silo answered ${status}: ${body?.error.code ?? "?"} ${body?.error.message ?? ""}`);
  }
}

export interface SiloOptions {
  baseUrl: string;
  key: string;
  /** How long a download waits for the malware scan's verdict (409 scan_pending). */
  scanWaitMs?: number;
}

export function createSilo({ baseUrl, key, scanWaitMs = 60_000 }: SiloOptions) {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

  /** POST /files: the metadata parts first (refused before any byte is stored), then the file. */
  async function upload(content: Blob, filename: string, metadata: Metadata): Promise<SiloFile> {
    const { data, error, response } = await client.POST("/files", {
      body: { ...metadata, file: content },
      bodySerializer(body) {
        const form = new FormData();
        for (const [name, value] of Object.entries(body)) {
          if (name === "file" || value === undefined) continue;
          for (const one of Array.isArray(value) ? value : [value]) form.append(name, String(one));
        }
        form.append("file", body.file, filename);
        return form;
      },
    });
    if (error !== undefined) throw new SiloError(response.status, error);
    // A write-only key gets only the id (FileReceipt); this client's key may read.
    if (!("sha256" in data)) throw new Error(`the key cannot read file ${data.id}`);
    return data;
  }

  /** GET /files, every page (newest first). */
  async function* list(): AsyncGenerator<SiloFile> {
    let cursor: string | undefined;
    do {
      const query = cursor === undefined ? { limit: 100 } : { limit: 100, cursor };
      const { data, error, response } = await client.GET("/files", { params: { query } });
      if (error !== undefined) throw new SiloError(response.status, error);
      yield* data.items;
      cursor = data.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** GET /files/{id}/content as JSON, then the presigned URL; waits out a pending scan. */
  async function download(id: string): Promise<Uint8Array> {
    const deadline = Date.now() + scanWaitMs;
    for (;;) {
      const { data, error, response } = await client.GET("/files/{file_id}/content", {
        params: { path: { file_id: id }, query: { redirect: false } },
      });
      if (data !== undefined) {
        const object = await fetch(data.url);
        if (!object.ok) throw new Error(`the presigned URL answered ${object.status}`);
        return new Uint8Array(await object.arrayBuffer());
      }
      if (response.status !== 409 || Date.now() > deadline) {
        throw new SiloError(response.status, error);
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // scan_pending
    }
  }

  /** GET /stats, every day so far. */
  async function stats(): Promise<Stats> {
    const { data, error, response } = await client.GET("/stats");
    if (error !== undefined) throw new SiloError(response.status, error);
    return data;
  }

  return { upload, list, download, stats };
}
