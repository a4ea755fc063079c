// The page of `retrieve serve`: search, similar tracks (by track or by an audio file), a path between two
// tracks, playback through the audio route, M3U export. Plain DOM, no framework, no build step. Every name and
// tag from the library goes in through textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("retrieve-token") || "", from: null, to: null, lists: {} };

/// A JSON API call; a 401 shows the token form. Throws an Error carrying the server's message.
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) {
    $("token-form").hidden = false;
    $("token").focus();
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.status + " " + response.statusText;
    throw new Error(message);
  }
  return body;
}

function trackName(track) {
  if (track.title) return track.title;
  const parts = track.path.split("/");
  return parts[parts.length - 1];
}

function duration(seconds) {
  if (typeof seconds !== "number" || !isFinite(seconds)) return "";
  const s = Math.round(seconds);
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function audioURL(track) {
  return "/api/tracks/" + encodeURIComponent(track.id) + "/audio" +
    (state.token ? "?token=" + encodeURIComponent(state.token) : "");
}

function button(label, title, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (title) b.setAttribute("aria-label", title);
  b.addEventListener("click", action);
  return b;
}

/// Fills list `id` with rows of tracks: each row a select button (its title), details, a similarity when
/// there is one, and Play / From / To buttons. `entries` are {track, similarity?}.
function showTracks(id, entries) {
  const list = $(id);
  list.replaceChildren();
  state.lists[id] = entries.map((e) => e.track);
  for (const entry of entries) {
    const track = entry.track;
    const name = trackName(track);
    const li = document.createElement("li");
    li.dataset.id = track.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const select = button(name, "Tracks like " + name, () => similarTo(track));
    select.className = "select";
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = [track.artist, track.album, duration(track.duration)].filter(Boolean).join(" · ");
    sub.title = track.path;
    meta.append(select, sub);
    li.append(meta);
    if (typeof entry.similarity === "number") {
      const sim = document.createElement("span");
      sim.className = "similarity";
      sim.textContent = entry.similarity.toFixed(3);
      sim.title = "similarity of the embeddings (1 = the same recording, 0.5 unrelated); tracks like another are " +
        "ordered by embedding and timbre together, so this need not decrease down the list";
      li.append(sim);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button("Play", "Play " + name, () => play(track)),
      button("From", "Start the path at " + name, () => setEnd("from", track)),
      button("To", "End the path at " + name, () => setEnd("to", track)));
    li.append(actions);
    list.append(li);
  }
}

function status(id, text, isError) {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle("error", Boolean(isError));
}

async function search(query) {
  status("search-status", "Searching…");
  try {
    const body = await api("/api/tracks?limit=100&q=" + encodeURIComponent(query));
    showTracks("search-results", body.tracks.map((track) => ({ track })));
    const shown = body.tracks.length;
    status("search-status", body.total === 0 ? "No track matches." :
      shown < body.total ? `${body.total} tracks match; the first ${shown} are shown.` : `${body.total} tracks match.`);
  } catch (e) {
    status("search-status", e.message, true);
  }
}

function neighbourCount() {
  const k = parseInt($("k").value, 10);
  return Number.isFinite(k) && k >= 1 ? Math.min(k, 200) : 10;
}

async function similarTo(track, keepFocus) {
  $("seed-name").textContent = trackName(track);
  map.seed = track;
  status("similar-status", "Looking for neighbours…");
  try {
    const body = await api("/api/similar?k=" + neighbourCount() + "&id=" + encodeURIComponent(track.id));
    showNeighbours(body.results, keepFocus);
  } catch (e) {
    status("similar-status", e.message, true);
  }
}

async function similarToFile(file) {
  $("seed-name").textContent = file.name;
  map.seed = null;
  status("similar-status", "Analysing " + file.name + "…");
  const form = new FormData();
  form.append("file", file, file.name);
  const identify = $("identify").checked;
  try {
    const body = await api("/api/similar/audio?k=" + neighbourCount() + (identify ? "&identify=true" : ""),
      { method: "POST", body: form });
    showNeighbours(body.results);
    const best = body.results[0];
    if (identify) {
      status("similar-status", best ? `Most likely ${trackName(best.track)} (match ${best.similarity.toFixed(3)}); ` +
        "the other candidates follow." : "No indexed recording matches.");
    } else if (body.indexedCopy) {
      status("similar-status", "This file is in the library: " + body.indexedCopy.path);
    }
  } catch (e) {
    status("similar-status", e.message, true);
  }
}

/// Shows the neighbours and moves the focus to the first, unless the pick came from the map (`keepFocus`):
/// there the keyboard stays on the map to go on exploring.
function showNeighbours(results, keepFocus) {
  showTracks("neighbours", results.map((r) => ({ track: r.track, similarity: r.similarity })));
  status("similar-status", results.length ? `${results.length} neighbours.` : "No neighbours.");
  $("export-similar").disabled = results.length === 0;
  drawMap();
  const first = $("neighbours").querySelector("button.select");
  if (first && !keepFocus) first.focus();
}

function setEnd(which, track) {
  state[which] = track;
  $("path-" + which).textContent = trackName(track);
}

async function buildPath() {
  if (!state.from || !state.to) {
    status("path-status", "Choose a From track and a To track first.", true);
    return;
  }
  const count = Math.max(2, Math.min(200, parseInt($("path-count").value, 10) || 10));
  status("path-status", "Building…");
  try {
    const body = await api(`/api/path?count=${count}&from=${encodeURIComponent(state.from.id)}&to=${encodeURIComponent(state.to.id)}`);
    showTracks("path", body.tracks.map((t) => ({ track: t.track, similarity: t.similarity })));
    status("path-status", `${body.count} tracks from ${trackName(state.from)} to ${trackName(state.to)}.`);
    $("export-path").disabled = body.count === 0;
    drawMap();
  } catch (e) {
    status("path-status", e.message, true);
  }
}

function play(track) {
  const player = $("player");
  player.src = audioURL(track);
  $("now-playing").textContent = "Playing " + trackName(track) + (track.artist ? " — " + track.artist : "");
  player.play().catch((e) => { $("now-playing").textContent = "Cannot play " + trackName(track) + ": " + e.message; });
}

/// An extended M3U of the list, built here and offered as a download: absolute indexed paths.
function exportM3U(listId, fileName) {
  const tracks = state.lists[listId] || [];
  const clean = (s) => String(s).replace(/[\r\n]+/g, " ");
  const lines = ["#EXTM3U"];
  for (const t of tracks) {
    const seconds = typeof t.duration === "number" ? Math.round(t.duration) : -1;
    lines.push(`#EXTINF:${seconds},${clean(t.artist ? t.artist + " - " + trackName(t) : trackName(t))}`, clean(t.path));
  }
  const blob = new Blob([lines.join("\n") + "\n"], { type: "audio/x-mpegurl" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function showStats() {
  try {
    const s = await api("/api/stats");
    $("stats").textContent = `${s.tracks} tracks · model ${s.model.name}`;
  } catch (e) {
    $("stats").textContent = e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("q").value);
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("retrieve-token", state.token);
    $("token-form").hidden = true;
    showStats();
    loadMap();
    search($("q").value);
  });
  $("file").addEventListener("change", () => {
    if ($("file").files.length) similarToFile($("file").files[0]);
  });
  $("identify").addEventListener("change", () => {
    if ($("file").files.length) similarToFile($("file").files[0]);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) similarToFile(event.dataTransfer.files[0]);
  });
  $("build-path").addEventListener("click", buildPath);
  $("export-similar").addEventListener("click", () => exportM3U("neighbours", "similar.m3u"));
  $("export-path").addEventListener("click", () => exportM3U("path", "path.m3u"));
  $("player").addEventListener("error", () => {
    $("now-playing").textContent = "This browser cannot play the file (" + ($("player").error?.message || "format") + ").";
  });
  $("map").addEventListener("click", pickOnMap);
  $("map").addEventListener("keydown", mapKey);
  $("map").addEventListener("focus", drawMap);
  $("map").addEventListener("blur", drawMap);
  window.addEventListener("resize", drawMap);
  showStats();
  loadMap();
  $("q").focus();
});
