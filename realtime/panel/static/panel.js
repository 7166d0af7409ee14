// The live panel: shows the run's real state (polled each second, so two tabs agree and a
// window key shows up here) and changes it through the same JSON API as curl (docs/PANEL.md).
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let state = null;
let busy = new Set(); // controls being dragged: the poll does not move them under the hand

function withToken(path) {
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(method, path, body) {
  const form = body instanceof FormData; // a painting: the browser sets its multipart type
  const response = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: "Bearer " + token },
      body === undefined || form ? {} : { "Content-Type": "application/json" },
    ),
    body: body === undefined || form ? body : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text, error = false) {
  const message = $("message");
  message.textContent = text;
  message.className = error ? "error" : "";
}

async function change(fields) {
  try {
    render(await api("POST", "/api/state", fields));
  } catch (error) {
    say(error.message, true);
    await poll();
  }
}

function render(next) {
  const first = state === null;
  state = next;
  $("stats").textContent =
    `${state.fps.toFixed(1)} fps · latency p50 ${state.latency_p50_ms.toFixed(0)} ms, ` +
    `p95 ${state.latency_p95_ms.toFixed(0)} ms · dropped ${state.dropped} · ` +
    `${state.arch} network on ${state.provider}`;
  if (first || $("gallery").dataset.styles !== state.styles.join(",")) buildGallery();
  for (const button of document.querySelectorAll(".style")) {
    button.classList.toggle("current", button.dataset.style === state.style);
  }
  renderMix();
  setRange("strength", state.strength);
  setRange("temporal-strength", state.temporal_strength);
  $("temporal").checked = state.temporal;
  $("preserve-color").checked = state.preserve_color;
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  $("pause").classList.toggle("on", state.paused);
  $("record").textContent = state.recording ? "Stop recording" : "Record";
  $("record").classList.toggle("on", Boolean(state.recording));
  if (state.message && $("message").className !== "error") say(state.message);
  renderTraining(state.training);
}

function setRange(id, value) {
  if (!busy.has(id)) $(id).value = Math.round(value * 100);
  $(id + "-value").textContent = value.toFixed(2);
}

function buildGallery() {
  const gallery = $("gallery");
  gallery.replaceChildren();
  gallery.dataset.styles = state.styles.join(",");
  for (const name of state.styles) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "style";
    button.id = "style-" + name;
    button.dataset.style = name;
    button.title = "paint with " + name;
    const image = document.createElement("img");
    image.alt = name;
    image.src = withToken(`/api/styles/${encodeURIComponent(name)}/thumbnail.jpg`);
    const label = document.createElement("span");
    label.textContent = name;
    button.append(image, label);
    button.addEventListener("click", () => change({ style: name }));
    gallery.append(button);
  }
  buildMix();
}

function buildMix() {
  const mixable = state.mixable || [];
  $("mixing").hidden = mixable.length < 2;
  const mix = $("mix");
  mix.replaceChildren();
  const target = $("morph-target");
  target.replaceChildren();
  for (const name of mixable) {
    const label = document.createElement("label");
    label.className = "slider";
    label.append(name + " ");
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: 0, max: 100, step: 1, id: "mix-" + name });
    slider.dataset.style = name;
    const value = document.createElement("output");
    value.id = "mix-" + name + "-value";
    label.append(slider, value);
    track(slider, () => change({ mix: mixFromSliders() }));
    mix.append(label);
    target.append(new Option(name, name));
  }
}

function mixFromSliders() {
  const weights = {};
  for (const slider of document.querySelectorAll("#mix input")) {
    weights[slider.dataset.style] = Number(slider.value) / 100;
  }
  return weights;
}

function renderMix() {
  if (!state.mix) return;
  for (const [name, weight] of Object.entries(state.mix)) {
    const slider = $("mix-" + name);
    if (!slider) continue;
    if (!busy.has(slider.id)) slider.value = Math.round(weight * 100);
    $("mix-" + name + "-value").textContent = Math.round(weight * 100) + "%";
  }
}

// A slider sends its value when let go (and the poll leaves it alone while it is held).
function track(input, send) {
  input.addEventListener("pointerdown", () => busy.add(input.id));
  input.addEventListener("change", async () => {
    busy.delete(input.id);
    await send();
  });
}

async function poll() {
  try {
    render(await api("GET", "/api/state"));
  } catch (error) {
    say("the run is not answering: " + error.message, true);
  }
}

async function snapshot() {
  try {
    const saved = await api("POST", "/api/snapshot");
    say("saved " + saved.path);
    const link = document.createElement("a");
    link.href = withToken(saved.url);
    link.download = saved.url.split("/").pop();
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    say(error.message, true);
  }
}

async function record() {
  try {
    const answer = await api("POST", "/api/record", { recording: !state.recording });
    say(answer.recording ? "recording to " + answer.recording : answer.summary);
    await poll();
  } catch (error) {
    say(error.message, true);
  }
}

// -- adding a painting (docs/PANEL.md, "Adding a painting") ------------------------------------

const RUNNING = ["collecting", "training", "exporting"];
let previewAt = 0; // when the learning style's preview was last asked for
let trainingSeen = ""; // the last job and status shown, to refresh the preview once at its end

function addSay(text, error = false) {
  $("add-message").textContent = text;
  $("add-message").className = error ? "error" : "";
}

async function upload(file) {
  const form = new FormData();
  form.append("painting", file, file.name);
  const name = $("painting-name").value.trim();
  if (name) form.append("name", name);
  addSay("sending " + file.name + "…");
  try {
    const answer = await api("POST", "/api/styles", form);
    addSay("");
    renderTraining(answer.training);
  } catch (error) {
    addSay(error.message, true);
  }
}

async function cancelTraining() {
  try {
    renderTraining((await api("POST", "/api/styles/cancel")).training);
  } catch (error) {
    addSay(error.message, true);
  }
}

function seconds(value) {
  return value < 90 ? Math.round(value) + " s" : Math.round(value / 60) + " min";
}

function renderTraining(job) {
  $("training").hidden = !job;
  if (!job) return;
  const running = RUNNING.includes(job.status);
  const bar = $("training-progress");
  let text = job.message;
  if (job.status === "collecting") {
    [bar.max, bar.value] = [job.to_collect || 1, job.collected];
    text = `${job.name}: collecting camera frames, ${job.collected}/${job.to_collect}`;
  } else if (job.status === "training") {
    [bar.max, bar.value] = [job.steps || 1, job.step];
    text = `${job.name}: step ${job.step}/${job.steps}`;
    const eta = job.eta_seconds;
    text += eta === null ? " · timing…" : ` · about ${seconds(eta)} left`;
  } else if (job.status === "exporting") {
    bar.removeAttribute("value"); // indeterminate: exporting, installing, switching
    text = `${job.name}: exporting and loading the network`;
  } else {
    [bar.max, bar.value] = [1, job.status === "done" ? 1 : 0];
  }
  $("training-status").textContent = text;
  $("training-status").className = ["failed", "cancelled"].includes(job.status) ? "error" : "";
  $("training-cancel").hidden = !running;
  const seen = job.name + "/" + job.status;
  const due = running ? Date.now() - previewAt > 2000 : seen !== trainingSeen;
  // A failed or cancelled job's work folder is gone, previews and all.
  const shown = job.preview && !["failed", "cancelled"].includes(job.status);
  if (shown && due) {
    previewAt = Date.now();
    $("training-preview").src = withToken("/api/styles/training/preview.jpg?at=" + previewAt);
    $("training-preview").hidden = false;
  } else if (!shown) {
    $("training-preview").hidden = true;
  }
  trainingSeen = seen;
}

function startDropZone() {
  const drop = $("drop");
  // A file dropped anywhere else must not make the browser leave the panel to show it.
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => event.preventDefault());
  }
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, () => drop.classList.add("over"));
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    const file = event.dataTransfer.files[0];
    if (file) upload(file);
  });
  $("painting").addEventListener("change", () => {
    const file = $("painting").files[0];
    $("painting").value = ""; // the same file again is a new choice
    if (file) upload(file);
  });
  $("training-cancel").addEventListener("click", cancelTraining);
}

function start() {
  $("preview").src = withToken("/api/preview.mjpg");
  track($("strength"), () => change({ strength: Number($("strength").value) / 100 }));
  track($("temporal-strength"), () =>
    change({ temporal_strength: Number($("temporal-strength").value) / 100 }),
  );
  $("temporal").addEventListener("change", () => change({ temporal: $("temporal").checked }));
  $("preserve-color").addEventListener("change", () =>
    change({ preserve_color: $("preserve-color").checked }),
  );
  $("pause").addEventListener("click", () => change({ paused: !state.paused }));
  $("morph").addEventListener("click", () =>
    change({ morph_to: $("morph-target").value, morph_seconds: Number($("morph-seconds").value) }),
  );
  $("snapshot").addEventListener("click", snapshot);
  $("record").addEventListener("click", record);
  startDropZone();
  poll();
  setInterval(poll, 1000);
}

document.addEventListener("DOMContentLoaded", start);
