// A small tus 1.0.0 client (core + creation): create an upload, PATCH the rest of the file,
// and after a dropped connection ask the server where it stands (HEAD) and go on from there.
// Written for the console; the server is service/api/tus.py.
"use strict";

window.SiloTus = (function () {
  const VERSION = "1.0.0";
  // Waits between attempts after a network failure or a busy server (ms), then give up.
  const RETRY_DELAYS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

  class Refused extends Error {
    // The server said no: `message` is the API's (error.message of its JSON body).
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  }

  // A key whose value is "" is sent without a value (tus allows it), so the server sees it was
  // given empty: an emptied title is refused ("`title` must not be empty"), not replaced by the
  // file name's default title. null and undefined leave the key out.
  function metadataHeader(metadata) {
    return Object.entries(metadata)
      .filter(([, value]) => value !== null && value !== undefined)
      .map(([key, value]) => (value === "" ? key : key + " " + base64(String(value))))
      .join(",");
  }

  function refusal(xhr) {
    let message = "the server answered " + xhr.status;
    let code = null;
    try {
      const body = JSON.parse(xhr.responseText);
      message = body.error.message;
      code = body.error.code;
    } catch (e) { /* not the API's JSON: keep the status */ }
    return new Refused(xhr.status, message, code);
  }

  // One request; resolves with the XHR whatever its status, rejects on a network failure.
  function request(method, url, headers, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", VERSION);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => reject(new Error("network"));
      xhr.ontimeout = () => reject(new Error("network"));
      xhr.send(body === undefined ? null : body);
    });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // POST the upload, again after a network failure or a busy server (503: its upload slots
  // are taken); any other answer but 201 is a refusal.
  async function create(file, endpoint, headers, options) {
    for (let attempt = 0; ; attempt++) {
      let xhr = null;
      try {
        xhr = await request("POST", endpoint, {
          ...headers,
          "Upload-Length": String(file.size),
          "Upload-Metadata": metadataHeader(options.metadata || {}),
        });
      } catch (networkFailure) { /* retried below */ }
      if (xhr && xhr.status === 201) return xhr;
      if (xhr && xhr.status !== 503) throw refusal(xhr);
      if (attempt >= RETRY_DELAYS.length) {
        throw xhr ? refusal(xhr) : new Refused(0, "the server cannot be reached", null);
      }
      if (options.onRetry) options.onRetry(attempt + 1);
      await sleep(RETRY_DELAYS[attempt]);
    }
  }

  // Upload `file` to `endpoint`; `options`: metadata, headers (sent with every request),
  // onProgress(sent, total), onRetry(attempt). Resolves with the file id (Silo-File-Id).
  async function upload(file, endpoint, options) {
    const headers = options.headers || {};
    const created = await create(file, endpoint, headers, options);
    const location = new URL(created.getResponseHeader("Location"), window.location.href).href;
    let offset = 0;
    let failures = 0;
    for (;;) {
      let xhr;
      try {
        xhr = await request(
          "PATCH",
          location,
          { ...headers, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
          file.slice(offset),
          (loaded) => options.onProgress && options.onProgress(offset + loaded, file.size),
        );
      } catch (networkFailure) {
        xhr = null;
      }
      if (xhr && xhr.status === 204) {
        offset = Number(xhr.getResponseHeader("Upload-Offset"));
        failures = 0;
        if (offset >= file.size) {
          if (options.onProgress) options.onProgress(file.size, file.size);
          return xhr.getResponseHeader("Silo-File-Id");
        }
        continue;
      }
      // 409 (another offset), 423 (still receiving the cut request), 503 (busy, unavailable)
      // and a dropped connection: find the offset and go on; anything else is a refusal.
      if (xhr && ![409, 423, 503].includes(xhr.status)) throw refusal(xhr);
      if (failures >= RETRY_DELAYS.length) {
        throw xhr ? refusal(xhr) : new Refused(0, "the connection to the server was lost", null);
      }
      if (options.onRetry) options.onRetry(failures + 1);
      await sleep(RETRY_DELAYS[failures++]);
      try {
        const head = await request("HEAD", location, headers);
        if (head.status === 200) {
          offset = Number(head.getResponseHeader("Upload-Offset"));
          if (offset >= file.size) {
            // The cut request had carried the last byte after all.
            if (options.onProgress) options.onProgress(file.size, file.size);
            return head.getResponseHeader("Silo-File-Id");
          }
        } else if (head.status !== 423 && head.status !== 503) throw refusal(head);
      } catch (error) {
        if (error instanceof Refused) throw error;
        // Still offline: the next round waits longer.
      }
    }
  }

  return { upload, Refused };
})();
