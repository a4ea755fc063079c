// The library map of `retrieve serve`'s page: points [[id, x, y], …] from /api/map on a canvas, redrawn with
// the seed, neighbours and path highlighted; a track is picked with a click or from the keyboard (the canvas
// takes the focus: arrow keys move a cursor to the nearest track in that direction, Page Up/Down step through
// every track, Home goes to the chosen one, Enter or Space picks; the track under the cursor is named in a live
// region). Loaded before app.js, whose functions it calls (api, status, similarTo, trackName).
"use strict";

/// `cursor`: the index in `points` of the keyboard's point, -1 before the first key; `names`: id → track.
const map = { points: [], byId: new Map(), seed: null, cursor: -1, names: new Map() };

async function loadMap() {
  try {
    const body = await api("/api/map");
    map.points = body.points;
    map.byId = new Map(body.points.map((p) => [String(p[0]), p]));
    map.cursor = -1;
    if (body.shown < body.count) $("map-status").append(` (${body.shown} of ${body.count} tracks shown)`);
    drawMap();
  } catch (e) {
    $("map-status").textContent = "No map: " + e.message;
  }
}

function mapFrame(canvas) {
  // Bounds by a loop: spreading 100 000 numbers into Math.min would overflow the argument stack.
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of map.points) {
    x0 = Math.min(x0, p[1]); x1 = Math.max(x1, p[1]); y0 = Math.min(y0, p[2]); y1 = Math.max(y1, p[2]);
  }
  const pad = 12, w = canvas.width - 2 * pad, h = canvas.height - 2 * pad;
  return (p) => [pad + (x1 > x0 ? (p[1] - x0) / (x1 - x0) : 0.5) * w, pad + (y1 > y0 ? (y1 - p[2]) / (y1 - y0) : 0.5) * h];
}

function drawMap() {
  const canvas = $("map");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(300, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.round(canvas.width * 0.7);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!map.points.length) return;
  const at = mapFrame(canvas);
  const dot = (p, colour, r) => { const [x, y] = at(p); g.fillStyle = colour; g.beginPath(); g.arc(x, y, r * ratio, 0, 2 * Math.PI); g.fill(); };
  const small = map.points.length > 5000 ? 1 : 2.5;
  for (const p of map.points) dot(p, "rgba(128,128,136,0.55)", small);
  const find = (t) => map.byId.get(String(t.id));
  const path = (state.lists.path || []).map(find).filter(Boolean);
  if (path.length > 1) {
    g.strokeStyle = "#2f9e44"; g.lineWidth = 2 * ratio; g.beginPath();
    path.forEach((p, i) => { const [x, y] = at(p); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    g.stroke();
  }
  for (const p of path) dot(p, "#2f9e44", 4.5);
  for (const t of state.lists.neighbours || []) { const p = find(t); if (p) dot(p, "#1c7ed6", 4.5); }
  if (map.seed) { const p = find(map.seed); if (p) dot(p, "#e8590c", 6.5); }
  const cursor = map.points[map.cursor];
  if (cursor && document.activeElement === canvas) {
    // The keyboard's point: a ring in the page's focus colour, wide enough to see on any dot.
    const [x, y] = at(cursor);
    g.strokeStyle = "#e8a100"; g.lineWidth = 3 * ratio; g.beginPath();
    g.arc(x, y, 9 * ratio, 0, 2 * Math.PI); g.stroke();
  }
}

async function pickOnMap(event) {
  const canvas = $("map");
  if (!map.points.length) return;
  const rect = canvas.getBoundingClientRect();
  const scale = canvas.width / rect.width;
  const cx = (event.clientX - rect.left) * scale, cy = (event.clientY - rect.top) * scale;
  const at = mapFrame(canvas);
  let best = null, bestDistance = Infinity;
  for (const p of map.points) {
    const [x, y] = at(p);
    const d = (x - cx) ** 2 + (y - cy) ** 2;
    if (d < bestDistance) { best = p; bestDistance = d; }
  }
  if (best && bestDistance < (20 * scale) ** 2) {
    map.cursor = map.points.indexOf(best);
    pickPoint(best, false);
  }
}

/// Asks for the tracks like point `p`'s (`keepFocus`: leave the keyboard on the map).
async function pickPoint(p, keepFocus) {
  try { similarTo(await mapTrack(p), keepFocus); } catch (e) { status("similar-status", e.message, true); }
}

/// The track of point `p`, asked for once.
async function mapTrack(p) {
  const id = String(p[0]);
  if (!map.names.has(id)) map.names.set(id, await api("/api/tracks/" + encodeURIComponent(id)));
  return map.names.get(id);
}

const mapDirections = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

function mapKey(event) {
  const n = map.points.length;
  if (!n || event.altKey || event.ctrlKey || event.metaKey) return;
  let next = null;
  if (event.key in mapDirections) {
    next = map.cursor < 0 ? mapStart() : mapNeighbour(mapDirections[event.key]);
    if (next === null) { mapAnnounce("No track further " + event.key.slice(5).toLowerCase() + "."); }
  } else if (event.key === "PageDown" || event.key === "PageUp") {
    next = map.cursor < 0 ? 0 : (map.cursor + (event.key === "PageDown" ? 1 : n - 1)) % n;
  } else if (event.key === "Home") {
    next = mapStart();
  } else if ((event.key === "Enter" || event.key === " ") && map.cursor >= 0) {
    event.preventDefault();
    pickPoint(map.points[map.cursor], true);
    return;
  } else {
    return;
  }
  event.preventDefault();
  if (next !== null) setMapCursor(next);
}

/// Where the keyboard starts: the chosen track's point, else the one nearest the middle.
function mapStart() {
  const seed = map.seed && map.byId.get(String(map.seed.id));
  if (seed) return map.points.indexOf(seed);
  const canvas = $("map"), at = mapFrame(canvas);
  let best = 0, bestDistance = Infinity;
  map.points.forEach((p, i) => {
    const [x, y] = at(p);
    const d = (x - canvas.width / 2) ** 2 + (y - canvas.height / 2) ** 2;
    if (d < bestDistance) { best = i; bestDistance = d; }
  });
  return best;
}

/// The nearest point in direction [dx, dy] (screen axes) from the cursor, within 60° of it; nearness counts
/// sideways distance twice, so the arrow's own line is preferred. `null` when there is none.
function mapNeighbour([dx, dy]) {
  const at = mapFrame($("map"));
  const [cx, cy] = at(map.points[map.cursor]);
  let best = null, bestScore = Infinity;
  map.points.forEach((p, i) => {
    if (i === map.cursor) return;
    const [x, y] = at(p);
    const along = (x - cx) * dx + (y - cy) * dy, across = Math.abs((x - cx) * dy - (y - cy) * dx);
    if (along <= 0 || across > along * Math.sqrt(3)) return;
    const score = along + 2 * across;
    if (score < bestScore) { best = i; bestScore = score; }
  });
  return best;
}

async function setMapCursor(index) {
  map.cursor = index;
  drawMap();
  const p = map.points[index];
  try {
    const track = await mapTrack(p);
    if (map.cursor !== index) return;
    const artist = track.artist ? " — " + track.artist : "";
    mapAnnounce(`${trackName(track)}${artist} (${index + 1} of ${map.points.length}). Enter: tracks like it.`);
  } catch (e) {
    mapAnnounce(e.message);
  }
}

function mapAnnounce(text) { $("map-cursor").textContent = text; }

