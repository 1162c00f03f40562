// The upload page: files chosen or dropped are listed with a title each and a progress bar,
// then sent with the console's tus client (tus.js) to /console/uploads, which the session
// cookie and the page's CSRF token authorize. Refusals show the API's message by the file.
"use strict";

(function () {
  const form = document.getElementById("upload");
  if (!form) return;
  const endpoint = form.dataset.endpoint;
  const csrf = document.querySelector('meta[name="silo-csrf"]').content;
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const queue = document.getElementById("queue");
  const formError = document.getElementById("form-error");
  const finished = document.getElementById("finished");
  const PARALLEL = 3;
  const items = [];
  let counter = 0;

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The pages' size format (service/console/charts.py `size`): "665 B", "1.5 KiB".
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  function size(n) {
    if (n < 1024) return n + " B";
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return value.toFixed(1) + " " + UNITS[unit];
  }

  function defaultTitle(name) {
    const dot = name.lastIndexOf(".");
    return (dot > 0 ? name.slice(0, dot) : name).slice(0, 200);
  }

  function add(file) {
    const id = "file-" + ++counter;
    const li = element("li", { id: id, "data-filename": file.name });
    li.append(element("p", { class: "name" }, file.name + " (" + size(file.size) + ")"));
    const field = element("div", { class: "field" });
    field.append(element("label", { for: id + "-title" }, "Title"));
    const title = element("input", { id: id + "-title", name: "title", required: "", maxlength: "200", "aria-describedby": id + "-status" });
    title.value = defaultTitle(file.name);
    field.append(title);
    li.append(field);
    const progress = element("progress", { max: "100", value: "0", "aria-label": "Progress of " + file.name });
    const percent = element("span", { class: "percent" }, "0 %");
    const status = element("p", { id: id + "-status", class: "status", role: "status" });
    const line = element("div", { class: "progress" });
    line.append(progress, percent);
    const remove = element("button", { type: "button", class: "link remove" }, "Remove " + file.name);
    li.append(line, status, remove);
    queue.append(li);
    const item = { file, li, title, progress, percent, status, remove, state: "waiting" };
    items.push(item);
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(item), 1);
      li.remove();
      input.focus();
    });
  }

  function addAll(files) {
    for (const file of files) add(file);
    // "Choose at least one file" is stale once there are some; so is the last round's summary.
    if (items.length) formError.hidden = true;
    finished.hidden = true;
  }

  input.addEventListener("change", () => {
    addAll(input.files);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    addAll(event.dataTransfer.files);
  });

  function shared() {
    const data = new FormData(form);
    const roles = data.getAll("roles");
    // Left out when empty (undefined): only an emptied title is sent empty, to be refused.
    return {
      description: data.get("description").trim() || undefined,
      category: data.get("category") || undefined,
      language: data.get("language") || undefined,
      roles: roles.length ? JSON.stringify(roles) : undefined,
    };
  }

  function show(item, state, message) {
    item.state = state;
    item.status.className = "status " + state;
    item.status.textContent = message;
    // The title is marked only when the API's message is about it ("`title` is required");
    // aria-invalid="" would read as false, so the value is "true".
    if (state === "failed" && message.includes("`title`")) {
      item.title.setAttribute("aria-invalid", "true");
    } else {
      item.title.removeAttribute("aria-invalid");
    }
    item.title.disabled = state === "sending" || state === "done";
    // Only a file not on its way (or refused) can be taken off the list.
    item.remove.hidden = !(state === "waiting" || state === "failed");
  }

  async function send(item, metadata) {
    show(item, "sending", "Uploading…");
    try {
      const fileId = await window.SiloTus.upload(item.file, endpoint, {
        headers: { "X-CSRF-Token": csrf },
        metadata: {
          ...metadata,
          filename: item.file.name,
          filetype: item.file.type || undefined,
          title: item.title.value.trim(),
        },
        onProgress: (sent, total) => {
          const value = total ? Math.floor((sent / total) * 100) : 100;
          item.progress.value = value;
          item.percent.textContent = value + " %";
        },
        onRetry: (attempt) => {
          item.li.dataset.retries = String(attempt);
          show(item, "sending", "Connection lost; resuming…");
        },
      });
      show(item, "done", "Uploaded. ");
      const link = element("a", { href: "/console/files/" + fileId }, "Open the file");
      item.status.append(link);
    } catch (error) {
      // Nothing of a refused file is kept: its bar says so rather than showing what was sent.
      item.progress.value = 0;
      item.percent.textContent = "not stored";
      show(item, "failed", error.message);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pending = items.filter((item) => item.state === "waiting" || item.state === "failed");
    formError.hidden = pending.length > 0;
    if (!pending.length) {
      formError.textContent = "Choose at least one file to upload.";
      return;
    }
    const metadata = shared();
    // Marked at once, so pressing Upload again does not send them twice.
    for (const item of pending) show(item, "queued", "Waiting for its turn…");
    // A few at a time: each holds one of the instance's upload slots while it sends.
    const waiting = pending.slice();
    const worker = async () => {
      while (waiting.length) await send(waiting.shift(), metadata);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, waiting.length) }, worker));
    const done = items.filter((item) => item.state === "done").length;
    if (done) {
      finished.textContent = (done === 1 ? "1 file" : done + " files") + " uploaded. ";
      finished.append(element("a", { href: "/console/files" }, "Go to files"));
      finished.hidden = false;
    }
  });
})();
