"use strict";
// pairless serve: the page's behaviour. Images (dropped, pasted, chosen or clicked examples) go to the server
// one per request, in turn, so each shows its own progress and result as soon as it is ready. No external
// scripts: everything here works offline.

const $ = (id) => document.getElementById(id);
const state = {
  runs: [], limits: null, run: null,
  queue: Promise.resolve(), queued: 0, finished: 0,
  results: [],  // {result, card, preview} of finished translations, for "Download all" and "Clear"
};

function el(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function option(value, text) {
  const choice = el("option", text);
  choice.value = value;
  return choice;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function megabytes(bytes) {
  return Number((bytes / 1e6).toPrecision(2));
}

// ---- runs, model card, limits, examples

async function loadRuns() {
  const response = await fetch("api/runs");
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const reply = await response.json();
  state.runs = reply.runs;
  state.limits = reply.limits;
  $("run").replaceChildren(...state.runs.map((run) => option(run.name, `${run.name}: ${run.method}, step ${run.step}`)));
  $("run-menu").hidden = state.runs.length < 2;
  showLimits();
  chooseRun(state.runs[0].name);
}

function chooseRun(name) {
  const run = state.runs.find((candidate) => candidate.name === name);
  state.run = run;
  $("run").value = name;
  $("model").textContent = `${run.method}, step ${run.step}`;
  renderCard(run);
  $("direction").replaceChildren(...run.directions.map((d) => option(d, `${run.direction_labels[d]} (${d})`)));
  $("attention-option").hidden = !run.attention;
  if (!run.attention) $("attention").checked = false;
  renderExamples();
}

function renderCard(run) {
  $("card-title").textContent = run.dataset ? `${run.method} · ${run.dataset}` : run.method;
  const dataset = run.dataset ? run.dataset + (run.data_found ? "" : " (its folder is not reachable here)")
                              : "not recorded";
  const facts = [
    ["Method", run.method],
    ["Trained", `${run.step.toLocaleString("en")} steps on ${run.crop_size}-px crops`],
    ["Data set", dataset],
  ];
  if (run.training_images.length) {
    facts.push(["Training images",
                run.training_images.map((t) => `${t.count.toLocaleString("en")} ${t.domain} (${t.folder})`).join(", ")]);
  }
  facts.push(["Directions", run.directions.map((d) => `${run.direction_labels[d]} (${d})`).join(", ")]);
  if (run.attention) facts.push(["Attention maps", "yes (U-GAT-IT)"]);
  $("facts").replaceChildren(...facts.flatMap(([term, value]) => [el("dt", term), el("dd", value)]));
  $("scores").replaceChildren(scoreTables(run));
}

function scoreTables(run) {
  if (!run.scores.length) {
    return el("p", "No evaluation scores in this run folder yet (`pairless evaluate RUN --data DIR` adds them).",
              "hint");
  }
  const details = el("details");
  details.open = true;
  details.append(el("summary", `Evaluation scores (${run.scores.length})`));
  for (const entry of run.scores) {
    const table = el("table");
    const split = entry.split ? `, ${entry.split} split` : "";
    table.append(el("caption", `${entry.source}: step ${entry.step}, ${entry.direction}${split}`));
    const body = el("tbody");
    for (const [label, value] of entry.rows) {
      const row = el("tr");
      row.append(el("td", label), el("td", value));
      body.append(row);
    }
    table.append(body);
    details.append(table);
  }
  return details;
}

function showLimits() {
  const l = state.limits;
  const tiles = l.tile ? `; images larger than ${l.tile} px go through the model in tiles` : "";
  $("limits").textContent = `Up to ${l.max_files} images at a time, each at most ${l.max_upload_mb} MB and ` +
                            `${l.max_megapixels} megapixels${tiles}.`;
}

function exampleUrl(runName, direction, index) {
  return "api/example?" + new URLSearchParams({ run: runName, direction, index });
}

function renderExamples() {
  const direction = $("direction").value;
  const names = state.run.examples[direction] || [];
  $("examples-section").hidden = !names.length;
  $("examples-from").textContent = names.length ? `from ${state.run.examples_from[direction]}` : "";
  $("examples").replaceChildren(...names.map((name, index) => exampleButton(name, index, direction)));
}

function exampleButton(name, index, direction) {
  const button = el("button", null, "example");
  button.type = "button";
  button.setAttribute("aria-label", `Translate the example ${name}`);
  const image = el("img");
  image.src = exampleUrl(state.run.name, direction, index);
  image.alt = "";
  button.append(image, el("span", name));
  button.addEventListener("click", () => {
    const size = image.naturalWidth ? [image.naturalWidth, image.naturalHeight] : null;
    enqueue([{ kind: "example", name, index, preview: image.src, size }]);
  });
  return button;
}

// ---- adding images: pick, drop, paste

function addFiles(files, how) {
  showError("");
  if (!files.length) return;
  const most = state.limits.max_files;
  if (files.length > most) {
    showError(`${files.length} images ${how}: this server takes up to ${most} at a time, so only the first ` +
              `${most} are translated.`);
  }
  enqueue(files.slice(0, most).map((file) => ({
    kind: "file", file, name: file.name || "pasted.png", preview: URL.createObjectURL(file), size: null,
  })));
}

function hasFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes("Files");
}

let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  $("drop-overlay").hidden = false;
});
document.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
document.addEventListener("dragleave", (event) => {
  if (!hasFiles(event)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $("drop-overlay").hidden = true;
});
document.addEventListener("drop", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  $("drop-overlay").hidden = true;
  addFiles([...event.dataTransfer.files], "dropped");
});
document.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData ? event.clipboardData.files : [])];
  if (!files.length) return;
  event.preventDefault();
  addFiles(files, "pasted");
});

// ---- the queue: one image per request, in turn

function enqueue(items) {
  if (state.queued === state.finished) state.queued = state.finished = 0;  // a new batch
  const choice = { run: state.run, direction: $("direction").value, attention: $("attention").checked };
  const first = $("results").querySelector(".empty");
  if (first) first.remove();
  for (const item of items) {
    const job = { ...item, ...choice };
    job.view = resultView(job);
    state.queued += 1;
    state.queue = state.queue.then(() => translate(job));
  }
  updateOverall();
}

async function translate(job) {
  try {
    const problem = job.kind === "file" ? await problemBeforeUpload(job) : null;
    if (problem) return job.view.fail(problem);
    const reply = await send(job);
    if (reply.status !== 200) return job.view.fail(`Refused: ${reply.body.error}`);
    job.view.done(reply.body.results[0]);
  } catch (error) {
    job.view.fail(`Something went wrong on this page: ${error.message}`);
  } finally {
    state.finished += 1;
    updateOverall();
  }
}

function naturalSize(url) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
    image.onerror = () => resolve(null);  // a format this browser cannot show (TIFF): the server decides
    image.src = url;
  });
}

async function problemBeforeUpload(job) {
  const l = state.limits;
  if (job.file.size > l.max_upload_mb * 1e6) {
    return `${job.name} is ${megabytes(job.file.size)} MB; this server takes images up to ${l.max_upload_mb} MB ` +
           "(pairless serve --max-upload-mb).";
  }
  job.size = await naturalSize(job.preview);
  const pixels = job.size ? job.size[0] * job.size[1] : 0;
  if (pixels > l.max_megapixels * 1e6) {
    return `${job.name} has ${Number((pixels / 1e6).toPrecision(3))} megapixels; this server takes up to ` +
           `${l.max_megapixels} (pairless serve --max-megapixels).`;
  }
  return null;
}

function parseReply(xhr) {
  try {
    return JSON.parse(xhr.responseText);
  } catch {
    return { error: `the server answered ${xhr.status}` };
  }
}

function send(job) {
  const body = new FormData();
  body.append("run", job.run.name);
  body.append("direction", job.direction);
  body.append("attention", job.attention);
  if (job.kind === "file") body.append("files", job.file, job.name);
  else body.append("example", job.index);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "api/translate");
    if (job.kind === "file") {
      job.view.uploading(0);
      xhr.upload.onprogress = (event) => { if (event.lengthComputable) job.view.uploading(event.loaded / event.total); };
      xhr.upload.onload = () => job.view.translating();
    } else {
      job.view.translating();
    }
    xhr.onload = () => resolve({ status: xhr.status, body: parseReply(xhr) });
    xhr.onerror = () => resolve({ status: 0, body: { error: "could not reach the server (is pairless serve running?)" } });
    xhr.send(body);
  });
}

function updateOverall() {
  const working = state.queued - state.finished;
  const bar = $("overall-progress");
  bar.hidden = !working;
  bar.max = state.queued;
  bar.value = state.finished;
  $("overall").textContent = working ? `Working: ${state.finished} of ${state.queued} done`
                                     : state.results.length ? `${state.results.length} translated` : "";
  $("download-all").disabled = !state.results.length;
  $("clear").disabled = !$("results").querySelector(".result.done, .result.failed");
}

// ---- one result: status, compare views, attention, download

function describeWork(job) {
  if (!job.size) return "";
  const [width, height] = job.size;
  const tile = state.limits.tile;
  return tile && Math.max(width, height) > tile ? ` (${width}×${height}, in ${tile}-px tiles)` : ` (${width}×${height})`;
}

function resultView(job) {
  const card = el("article", null, "result waiting");
  const header = el("header");
  header.append(el("h3", job.name), el("span", `${job.run.name} · ${job.run.direction_labels[job.direction]}`, "meta"));
  const status = el("p", "Waiting for its turn…", "status");
  status.setAttribute("aria-live", "polite");
  const progress = el("progress");
  card.append(header, status, progress);
  $("results").append(card);
  card.scrollIntoView({ block: "nearest" });
  let timer = null;
  const finish = (className) => {
    clearInterval(timer);
    progress.remove();
    card.className = `result ${className}`;
  };
  return {
    uploading(fraction) {
      card.className = "result working";
      progress.value = fraction;
      status.textContent = `Uploading… ${Math.round(fraction * 100)} %`;
    },
    translating() {
      if (timer !== null) return;
      card.className = "result working";
      progress.removeAttribute("value");
      const started = performance.now();
      const what = describeWork(job);
      const tick = () => {
        status.textContent = `Translating on the server${what}… ${Math.round((performance.now() - started) / 1000)} s`;
      };
      tick();
      timer = setInterval(tick, 500);
    },
    fail(message) {
      finish("failed");
      status.setAttribute("role", "alert");
      status.textContent = message;
      if (job.kind === "file") URL.revokeObjectURL(job.preview);
    },
    done(result) {
      finish("done");
      status.textContent = `Done: ${result.width}×${result.height} in ${result.seconds.toFixed(1)} s on the server.`;
      const compare = compareView(job, result);
      card.append(viewTools(compare, job, result), compare);
      state.results.push({ result, card, preview: job.kind === "file" ? job.preview : null });
    },
  };
}

// ---- download all (a zip made here, from the results the page holds) and clear

function dataUrlBytes(url) {
  const binary = atob(url.slice(url.indexOf(",") + 1));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function uniqueName(name, used) {
  let candidate = name;
  for (let n = 2; used.has(candidate); n += 1) candidate = name.replace(/(\.png)?$/, `-${n}$1`);
  used.add(candidate);
  return candidate;
}

$("download-all").addEventListener("click", () => {
  const used = new Set();
  const files = state.results.map(({ result }) => ({ name: uniqueName(result.download, used),
                                                      bytes: dataUrlBytes(result.output) }));
  const url = URL.createObjectURL(zipStored(files));
  const link = el("a");
  link.href = url;
  link.download = "pairless-results.zip";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
});

$("clear").addEventListener("click", () => {
  for (const { preview } of state.results) if (preview) URL.revokeObjectURL(preview);
  state.results = [];
  $("results").querySelectorAll(".result.done, .result.failed").forEach((card) => card.remove());
  updateOverall();
});

// ---- controls

$("choose").addEventListener("click", () => $("files").click());
$("files").addEventListener("change", () => {
  addFiles([...$("files").files], "chosen");
  $("files").value = "";  // choosing the same file again is a new request
});
$("run").addEventListener("change", () => chooseRun($("run").value));
$("direction").addEventListener("change", renderExamples);

loadRuns().catch((error) => showError(`Could not load the models from the server: ${error.message}`));
