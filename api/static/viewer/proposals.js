// Boundary-redraw proposals in the viewer. Street staff and planners edit a draft — the street's
// grids or communities — by drawing an area for one unit, dragging a vertex shared by neighbouring
// units, reassigning an estate (小区) to a neighbouring grid, or (communities) moving a grid; the server computes and checks every edit (POST
// proposals/draw, proposals/preview) and answers the draft's sizes before/after and its findings,
// shown here before anything is saved. A saved draft is submitted; reviewers approve or reject, and
// an approved proposal is applied in one transaction. Uses city, map, send, getJSON, say, text and
// reload from viewer.js.
"use strict";

const STATES = { draft: "草稿", submitted: "已提交", approved: "已批准", rejected: "已驳回", applied: "已应用" };
const LABEL = { communities: "社区", grids: "网格" };
const HINTS = {
  grids: "画范围：点击地图放置顶点，双击或点“完成”结束，所画范围划入选定网格（限于该网格所属社区）。" +
    "拖动顶点：拖动相邻网格共用的顶点或边中点，共用它的网格一起改变。" +
    "划转小区：点击一栋建筑，它所在小区在本网格内的建筑整体划入选定的相邻网格。",
  communities: "社区边界沿网格线调整：点击网格选择划入的社区，或画范围（盖住一半以上的网格整体划入）。",
  drawing: "依次点击范围的顶点，双击或点“完成”结束。",
  estate: "点击一栋建筑：它所在小区在本网格内的建筑将一起划转。",
};
const ESTATE_STYLE = { color: "#d62728", weight: 2, fillColor: "#d62728", fillOpacity: 0.6, interactive: false };
const DRAFT_STYLE = { color: "#ff7f0e", weight: 3, dashArray: "6 4", fill: false };
// the draft: the street's units of one level as the server last checked them, with what was done
const edit = {
  street: null, level: "grids", base: null, units: null, review: null, notes: [], undo: [],
  tool: null, drawing: [], sketch: null, layer: null, handles: null, grid: null, estate: null,
};

const key = (c) => `${c[0]},${c[1]}`;
const unitName = (f) => `${f.properties.name || ""}(${f.properties.code})`;

function rings(geometry) {  // the rings of a Polygon or MultiPolygon (the arrays themselves)
  return geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates.flat();
}

function streetUnits() {  // the stored units of the draft's street and level, as a draft
  const comms = city.units.communities.features.filter((c) => c.properties.street_code === edit.street);
  const ids = new Set(comms.map((c) => c.id));
  const units = edit.level === "communities" ? comms :
    city.units.grids.features.filter((g) => ids.has(g.properties.community_code));
  return {
    type: "FeatureCollection",
    features: units.map((f) => ({ type: "Feature", id: f.id, properties: { code: f.id, name: f.properties.name ?? null },
      geometry: structuredClone(f.geometry) })),
  };
}

function startDraft() {
  stopTools();
  edit.street = document.getElementById("edit-street").value;
  edit.level = document.getElementById("edit-level").value;
  edit.base = city.version;
  edit.units = streetUnits();
  edit.review = null;
  edit.notes = [];
  edit.undo = [];
  document.getElementById("tool-vertex").disabled = edit.level !== "grids";
  document.getElementById("tool-estate").disabled = edit.level !== "grids";
  document.getElementById("edit-hint").textContent = HINTS[edit.level];
  render();
}

function commit(units, review, note) {  // a checked edit becomes the draft
  edit.undo.push({ units: edit.units, review: edit.review });
  edit.units = units;
  edit.review = review;
  edit.notes.push(note);
  render();
}

function undo() {
  const last = edit.undo.pop();
  if (!last) return;
  edit.units = last.units;
  edit.review = last.review;
  edit.notes.pop();
  render();
}

function render() {
  if (edit.layer) map.removeLayer(edit.layer);
  const changed = new Set(edit.review ? edit.review.summary.changed : []);
  edit.layer = L.geoJSON({ type: "FeatureCollection", features: edit.units.features.filter((f) => changed.has(f.properties.code)) },
    { style: () => DRAFT_STYLE, interactive: false }).addTo(map);
  document.getElementById("draft-moves").replaceChildren(...edit.notes.map((note) => {
    const li = document.createElement("li");
    li.textContent = note;
    return li;
  }));
  for (const id of ["draft-save", "draft-undo", "draft-discard"]) document.getElementById(id).disabled = edit.notes.length === 0;
  showReview(edit.review);
  if (edit.tool === "vertex") showHandles();
}

function showReview(review) {
  const box = document.getElementById("draft-review");
  box.hidden = !review;
  if (!review) return;
  const s = review.summary;
  document.getElementById("draft-summary").textContent =
    `新增错误 ${s.new_errors} · 修复错误 ${s.fixed_errors} · 改动 ${s.changed.length} 个${LABEL[edit.level]}`;
  const rows = review.sizes.filter((z) => z.status !== "kept").map((z) =>
    `<tr data-code="${text(z.code)}"><td>${text(z.code)}</td>` +
    `<td><span class="hh-before">${z.households_before}</span> → <span class="hh-after${z.ok ? "" : " bad"}">` +
    `${z.households_after}</span></td><td><span class="res-before">${z.residents_before}</span> → ` +
    `<span class="res-after">${z.residents_after}</span></td></tr>`);
  document.getElementById("draft-sizes").innerHTML =
    `<tr><th>${LABEL[edit.level]}</th><th>户数 前→后</th><th>人口 前→后</th></tr>${rows.join("")}`;
  const findings = [...review.findings.findings].sort((a, b) => Boolean(b.new) - Boolean(a.new));
  document.getElementById("draft-findings").replaceChildren(...findings.map((f) => {
    const li = document.createElement("li");
    li.className = `${f.severity}${f.new ? " new" : ""}`;
    li.innerHTML = `${f.new ? "<b>新</b> " : ""}${text(f.message)} <span class="code">${text(f.code)}</span>`;
    if (f.geometry) li.onclick = () => map.fitBounds(L.geoJSON(f.geometry).getBounds(), { maxZoom: 18, padding: [40, 40] });
    return li;
  }));
}

function draftBody() {
  return { street_code: edit.street, level: edit.level, base_version: edit.base, units: edit.units };
}

async function drawInto(area, to, note) {  // the server gives the area (or {estate, grid}) to ``to`` and checks it
  say("正在计算…");
  try {
    const result = await send("POST", "proposals/draw", { ...draftBody(), ...(area.estate ? area : { area }), to });
    const taken = result.taken.map((t) => t.grid || t.code).join("、");
    commit(result.units, result, `${note}：${taken} → ${to}`);
    const along = result.estate && result.estate.with.length ? `；与其重叠的其他小区建筑 ${result.estate.with.length} 栋一起划转` : "";
    say(`已划入 ${to}（未保存${along}）`);
  } catch (e) {
    say(`未采用：${e.message}`, true);
  }
}

async function previewDraft(units, note) {  // a hand-edited draft, checked by the server
  say("正在检查…");
  try {
    const review = await send("POST", "proposals/preview", { ...draftBody(), units });
    commit(units, review, note);
    say("已检查（未保存）");
  } catch (e) {
    say(`未采用：${e.message}`, true);
    render();
  }
}

// ---- drawing an area ------------------------------------------------------------------------------

function stopTools() {
  edit.tool = null;
  edit.drawing = [];
  if (edit.sketch) map.removeLayer(edit.sketch);
  edit.sketch = null;
  if (edit.handles) map.removeLayer(edit.handles);
  edit.handles = null;
  if (edit.estate) map.removeLayer(edit.estate.layer);
  edit.estate = null;
  document.getElementById("estate-form").hidden = true;
  map.doubleClickZoom.enable();
  map.getContainer().classList.remove("drawing");
  document.getElementById("draw-form").hidden = true;
  document.getElementById("edit-form").hidden = true;
  for (const id of ["tool-draw", "tool-vertex", "tool-estate"]) document.getElementById(id).classList.remove("active");
}

function startDrawing() {
  const was = edit.tool;
  stopTools();
  if (was === "draw") return;
  edit.tool = "draw";
  map.doubleClickZoom.disable();
  map.getContainer().classList.add("drawing");
  document.getElementById("tool-draw").classList.add("active");
  document.getElementById("draw-to").replaceChildren(...edit.units.features.map((f) => new Option(unitName(f), f.properties.code)));
  document.getElementById("draw-form").hidden = false;
  document.getElementById("edit-hint").textContent = HINTS.drawing;
}

function addVertex(event) {
  if (edit.tool !== "draw") return;
  const last = edit.drawing[edit.drawing.length - 1];
  if (last && map.latLngToContainerPoint(last).distanceTo(map.latLngToContainerPoint(event.latlng)) < 4) return;
  if (!edit.drawing.length) {  // the unit where drawing starts is the likely receiver
    const here = edit.units.features.find((f) => turf.booleanPointInPolygon([event.latlng.lng, event.latlng.lat], f));
    if (here) document.getElementById("draw-to").value = here.properties.code;
  }
  edit.drawing.push(event.latlng);
  if (edit.sketch) map.removeLayer(edit.sketch);
  edit.sketch = L.polygon(edit.drawing, { color: "#d62728", weight: 2, dashArray: "4 4", fillOpacity: 0.15, interactive: false }).addTo(map);
}

async function finishDrawing() {
  if (edit.tool !== "draw") return;
  const points = edit.drawing.map((p) => [p.lng, p.lat]);
  if (points.length < 3) {
    say("至少需要三个顶点", true);
    return;
  }
  const to = document.getElementById("draw-to").value;
  stopTools();
  document.getElementById("edit-hint").textContent = HINTS[edit.level];
  await drawInto({ type: "Polygon", coordinates: [[...points, points[0]]] }, to, "画范围");
}

// ---- dragging shared vertices -------------------------------------------------------------------------

function onOutline(point, codes, parents) {  // on the outline of a grid's community, a vertex stays put
  return codes.some((code) => {
    const parent = parents.get(code);
    return !parent || Math.abs(turf.pointToPolygonDistance(point, parent, { units: "meters" })) < 0.05;
  });
}

function showHandles() {  // a marker on every vertex and edge that neighbouring grids share
  if (edit.handles) map.removeLayer(edit.handles);
  edit.handles = L.layerGroup().addTo(map);
  const vertices = new Map();
  const edges = new Map();
  edit.units.features.forEach((f, u) => rings(f.geometry).forEach((ring, r) => {
    for (let i = 0; i < ring.length - 1; i++) {
      const k = key(ring[i]);
      if (!vertices.has(k)) vertices.set(k, []);
      vertices.get(k).push({ u, r, i });
      const e = [k, key(ring[i + 1])].sort().join("|");
      if (!edges.has(e)) edges.set(e, []);
      edges.get(e).push({ u, r, i });
    }
  }));
  const shared = (at) => new Set(at.map((a) => a.u)).size > 1;
  const communities = new Map(city.units.communities.features.map((c) => [c.id, c]));
  const parents = new Map(city.units.grids.features.map((g) => [g.id, communities.get(g.properties.community_code)]));
  const codes = (at) => at.map((a) => edit.units.features[a.u].properties.code);
  for (const [k, at] of vertices) {
    const c = k.split(",").map(Number);
    if (shared(at) && !onOutline(c, codes(at), parents)) handle(c, "vertex-handle", (units, to) => {
      for (const { u, r, i } of at) {
        const ring = rings(units.features[u].geometry)[r];
        ring[i] = to;
        if (i === 0) ring[ring.length - 1] = to;
      }
    });
  }
  for (const at of edges.values()) {
    const { u, r, i } = at[0];
    const ring = rings(edit.units.features[u].geometry)[r];
    const mid = [(ring[i][0] + ring[i + 1][0]) / 2, (ring[i][1] + ring[i + 1][1]) / 2];
    if (shared(at) && !onOutline(mid, codes(at), parents)) handle(mid, "vertex-handle mid", (units, to) => {
      for (const { u, r, i } of at) rings(units.features[u].geometry)[r].splice(i + 1, 0, to);
    });
  }
}

function handle(c, className, move) {  // a draggable marker; dropped, ``move`` edits a copy of the draft
  const size = className.includes("mid") ? 9 : 12;
  const marker = L.marker([c[1], c[0]], { draggable: true, icon: L.divIcon({ className, iconSize: [size, size] }) });
  marker.on("dragend", () => {
    const p = marker.getLatLng();
    const units = structuredClone(edit.units);
    move(units, [p.lng, p.lat]);
    previewDraft(units, `移动顶点 ${c[0].toFixed(6)},${c[1].toFixed(6)}`);
  });
  marker.addTo(edit.handles);
}

function vertexTool() {
  const was = edit.tool;
  stopTools();
  if (was === "vertex") return;
  edit.tool = "vertex";
  document.getElementById("tool-vertex").classList.add("active");
  showHandles();
}

// ---- reassigning an estate (小区) to a neighbouring grid ----------------------------------------------------

function estateTool() {
  const was = edit.tool;
  stopTools();
  if (was === "estate") return;
  edit.tool = "estate";
  document.getElementById("tool-estate").classList.add("active");
  document.getElementById("edit-hint").textContent = HINTS.estate;
}

function unitAt(feature) {  // the draft unit holding a point on the feature's surface
  const inside = turf.pointOnFeature(feature);
  return edit.units.features.find((f) => turf.booleanPointInPolygon(inside, f));
}

function pickEstate(event) {  // the clicked building's estate in its grid, highlighted; the receivers listed
  if (edit.tool !== "estate" || !city.layers.buildings) return;
  const at = [event.latlng.lng, event.latlng.lat];
  const all = city.layers.buildings.toGeoJSON().features.filter((b) => b.geometry && b.geometry.type !== "Point");
  const hit = all.find((b) => turf.booleanPointInPolygon(at, b));
  if (!hit || !hit.properties.estate) {
    say(hit ? "这栋建筑没有小区名" : "请点击一栋建筑", true);
    return;
  }
  const grid = unitAt(hit);
  if (!grid) return;
  const name = hit.properties.estate;
  const members = all.filter((b) => b.properties.estate === name && unitAt(b) === grid);
  if (edit.estate) map.removeLayer(edit.estate.layer);
  edit.estate = { name, grid: grid.properties.code, count: members.length,
    layer: L.geoJSON({ type: "FeatureCollection", features: members }, { style: () => ESTATE_STYLE }).addTo(map) };
  const community = (code) => (city.units.grids.features.find((g) => g.id === code) || { properties: {} }).properties.community_code;
  const near = edit.units.features.filter((f) => f !== grid && community(f.properties.code) === community(grid.properties.code) &&
    turf.booleanIntersects(f, grid));
  document.getElementById("estate-to").replaceChildren(...near.map((f) => new Option(unitName(f), f.properties.code)));
  document.getElementById("estate-name").textContent = `小区 ${name}（${members.length} 栋，现属 ${grid.properties.code}）`;
  document.getElementById("estate-form").hidden = false;
}

function moveEstate() {
  const { name, grid } = edit.estate;
  const to = document.getElementById("estate-to").value;
  stopTools();
  document.getElementById("edit-hint").textContent = HINTS[edit.level];
  return drawInto({ estate: name, grid }, to, `划转小区 ${name}`);
}

// ---- moving a whole grid to another community -----------------------------------------------------------

function pickGrid(feature) {
  if (edit.level !== "communities" || edit.tool) return;
  edit.grid = feature;
  const inside = turf.pointOnFeature(feature);
  const here = edit.units.features.find((c) => turf.booleanPointInPolygon(inside, c));
  const select = document.getElementById("edit-target");
  select.replaceChildren(...edit.units.features.filter((c) => c !== here).map((c) => new Option(unitName(c), c.properties.code)));
  document.getElementById("edit-grid").textContent = `网格 ${feature.id}（现属 ${here ? here.properties.code : "?"}）`;
  document.getElementById("edit-form").hidden = false;
}

function moveGrid() {
  document.getElementById("edit-form").hidden = true;
  return drawInto(edit.grid.geometry, document.getElementById("edit-target").value, `网格 ${edit.grid.id} 整体划入`);
}

async function saveDraft() {
  const body = {
    ...draftBody(),
    title: document.getElementById("draft-title").value || `调整${LABEL[edit.level]}边界`,
    reason: document.getElementById("draft-reason").value || edit.notes.join("；"),
  };
  try {
    await send("POST", "proposals", body);
    startDraft();
    say("方案已保存为草稿");
  } catch (e) {
    say(`保存失败：${e.message}`, true);
  }
  await listProposals();
}

// ---- the proposals: review, approve, apply ------------------------------------------------------------

function sizesTable(p) {
  const rows = (p.sizes || []).filter((s) => s.status !== "kept").map((s) =>
    `<tr><td>${text(s.code)}</td><td>${s.households_before}</td><td class="${s.ok ? "" : "bad"}">${s.households_after}</td>` +
    `<td>${s.residents_before}</td><td>${s.residents_after}</td></tr>`);
  return rows.length ? `<table><tr><th>${LABEL[p.level] || ""}</th><th>户数（前）</th><th>户数（后）</th><th>人口（前）</th>` +
    `<th>人口（后）</th></tr>${rows.join("")}</table>` : "";
}

async function act(p, action, body, headers) {
  try {
    await send("POST", `proposals/${p.id}/${action}`, body, headers);
    if (action === "apply") await reload();
  } catch (e) {
    say(`操作失败：${e.message}`, true);
  }
  await listProposals();
}

function buttons(p) {
  const me = city.user;
  const out = [];
  const add = (label, fn) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.onclick = fn; out.push(b); };
  add("在地图上显示", () => {
    if (edit.layer) map.removeLayer(edit.layer);
    edit.layer = L.geoJSON(p.units, { style: () => DRAFT_STYLE }).addTo(map);
    map.fitBounds(edit.layer.getBounds());
  });
  if (p.state === "draft" && p.author === me.username) add("提交", () => act(p, "submit"));
  if (p.state === "submitted" && me.role === "reviewer") {
    add("批准", () => act(p, "approve", { why: "" }));
    add("驳回", () => { const why = prompt("驳回理由"); if (why) act(p, "reject", { why }); });
  }
  if (p.state === "approved" && (me.role === "reviewer" || me.role === "admin")) {
    add("应用", () => act(p, "apply", { base_version: p.base_version }, { "If-Match": String(p.base_version) }));
  }
  return out;
}

async function listProposals() {
  const list = document.getElementById("proposal-list");
  let proposals;
  try {
    proposals = (await getJSON("proposals")).proposals;
  } catch (e) {
    list.textContent = `无法读取方案：${e.message}`;
    return;
  }
  list.replaceChildren(...proposals.map((p) => {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.dataset.state = p.state;
    const errors = p.summary ? p.summary.new_errors : null;
    li.innerHTML = `<b>${text(p.title)}</b><span class="state">${STATES[p.state] || text(p.state)}</span><br>` +
      `<small>${text(p.author)} · 街道 ${text(p.street_code)} · ${LABEL[p.level] || ""} · 基于版本 ${p.base_version}` +
      `${errors == null ? "" : ` · 新增错误 ${errors}`}</small>${sizesTable(p)}`;
    li.append(...buttons(p));
    return li;
  }));
}

window.startProposals = async function () {
  document.getElementById("proposals").hidden = false;
  if (["street_staff", "planner"].includes(city.user.role)) {
    const streets = city.units.streets.features.filter((s) => !city.user.street_code || s.id === city.user.street_code);
    document.getElementById("edit-street").replaceChildren(...streets.map((s) => new Option(`${s.properties.name || ""} (${s.id})`, s.id)));
    document.getElementById("edit-street-box").hidden = streets.length < 2;
    document.getElementById("editor").hidden = false;
    window.onGrids = (layer) => layer.on("click", (event) => pickGrid(event.layer.feature));
    window.onGrids(city.layers.grids);
    map.on("click", addVertex);
    map.on("click", pickEstate);
    map.on("dblclick", finishDrawing);
    document.getElementById("edit-street").onchange = startDraft;
    document.getElementById("edit-level").onchange = startDraft;
    document.getElementById("tool-draw").onclick = startDrawing;
    document.getElementById("tool-vertex").onclick = vertexTool;
    document.getElementById("tool-estate").onclick = estateTool;
    document.getElementById("estate-move").onclick = moveEstate;
    document.getElementById("estate-cancel").onclick = () => { stopTools(); document.getElementById("edit-hint").textContent = HINTS[edit.level]; };
    document.getElementById("draw-finish").onclick = finishDrawing;
    document.getElementById("draw-cancel").onclick = () => { stopTools(); document.getElementById("edit-hint").textContent = HINTS[edit.level]; };
    document.getElementById("draft-undo").onclick = undo;
    document.getElementById("draft-discard").onclick = startDraft;
    document.getElementById("edit-move").onclick = moveGrid;
    document.getElementById("draft-save").onclick = saveDraft;
    startDraft();
  }
  await listProposals();
};
