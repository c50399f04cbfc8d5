// Boundary-redraw proposals in the viewer: street staff and planners move grids between
// communities (the new community lines are unions of grids, computed here with turf) and save a
// draft the server checks; reviewers approve or reject; an approved proposal is applied in one
// transaction. Uses city, map, send, getJSON, say, text and reload from viewer.js.
"use strict";

const STATES = { draft: "草稿", submitted: "已提交", approved: "已批准", rejected: "已驳回", applied: "已应用" };
const draft = { moves: [], shapes: new Map(), layer: null, grid: null };  // shapes: community code → geometry

function communityOf(grid) { return grid.properties.community_code; }

function streetOf(communityCode) {
  const c = city.units.communities.features.find((f) => f.id === communityCode);
  return c ? c.properties.street_code : null;
}

function shapeOf(code) {
  if (draft.shapes.has(code)) return draft.shapes.get(code);
  const c = city.units.communities.features.find((f) => f.id === code);
  return c ? c.geometry : null;
}

function drawDraft() {
  if (draft.layer) map.removeLayer(draft.layer);
  const features = [...draft.shapes].map(([code, geometry]) => ({ type: "Feature", id: code, geometry, properties: { code } }));
  draft.layer = L.geoJSON({ type: "FeatureCollection", features }, {
    style: () => ({ color: "#ff7f0e", weight: 3, dashArray: "6 4", fill: false }), interactive: false,
  }).addTo(map);
  const list = document.getElementById("draft-moves");
  list.replaceChildren(...draft.moves.map((m) => {
    const li = document.createElement("li");
    li.textContent = `网格 ${m.grid}：${m.from} → ${m.to}`;
    return li;
  }));
  document.getElementById("draft-save").disabled = draft.moves.length === 0;
}

function pickGrid(feature) {
  draft.grid = feature;
  const here = draft.moves.filter((m) => m.grid === feature.id).map((m) => m.to).pop() || communityOf(feature);
  const street = streetOf(communityOf(feature));
  const select = document.getElementById("edit-target");
  select.replaceChildren(...city.units.communities.features
    .filter((c) => c.properties.street_code === street && c.id !== here)
    .map((c) => new Option(`${c.properties.name || ""} (${c.id})`, c.id)));
  document.getElementById("edit-grid").textContent = `网格 ${feature.id}（现属 ${here}）`;
  document.getElementById("edit-form").hidden = false;
}

function moveGrid() {
  const grid = draft.grid;
  const to = document.getElementById("edit-target").value;
  const from = draft.moves.filter((m) => m.grid === grid.id).map((m) => m.to).pop() || communityOf(grid);
  if (!grid || !to || to === from) return;
  const piece = turf.feature(grid.geometry);
  const left = turf.difference(turf.featureCollection([turf.feature(shapeOf(from)), piece]));
  const grown = turf.union(turf.featureCollection([turf.feature(shapeOf(to)), piece]));
  draft.shapes.set(from, left ? left.geometry : null);
  draft.shapes.set(to, grown.geometry);
  draft.moves.push({ grid: grid.id, from, to });
  drawDraft();
}

async function saveDraft() {
  const street = streetOf(draft.moves[0].from);
  const units = city.units.communities.features
    .filter((c) => c.properties.street_code === street && shapeOf(c.id))
    .map((c) => ({ type: "Feature", geometry: shapeOf(c.id), properties: { code: c.id, name: c.properties.name } }));
  const body = {
    street_code: street, level: "communities", base_version: city.version,
    title: document.getElementById("draft-title").value || `调整 ${draft.moves.length} 个网格`,
    reason: document.getElementById("draft-reason").value || draft.moves.map((m) => `${m.grid}: ${m.from}→${m.to}`).join("; "),
    units: { type: "FeatureCollection", features: units },
  };
  try {
    await send("POST", "proposals", body);
    draft.moves = [];
    draft.shapes.clear();
    drawDraft();
    say("方案已保存为草稿");
  } catch (e) {
    say(`保存失败：${e.message}`, true);
  }
  await listProposals();
}

function sizesTable(sizes) {
  const rows = (sizes || []).filter((s) => s.households_before !== s.households_after).map((s) =>
    `<tr><td>${text(s.code)}</td><td>${s.households_before}</td><td class="${s.ok ? "" : "bad"}">${s.households_after}</td></tr>`);
  return rows.length ? `<table><tr><th>社区</th><th>调整前户数</th><th>调整后</th></tr>${rows.join("")}</table>` : "";
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
    if (draft.layer) map.removeLayer(draft.layer);
    draft.layer = L.geoJSON(p.units, { style: () => ({ color: "#ff7f0e", weight: 3, dashArray: "6 4", fill: false }) }).addTo(map);
    map.fitBounds(draft.layer.getBounds());
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
    proposals = await getJSON("proposals");
  } catch (e) {
    list.textContent = `无法读取方案：${e.message}`;
    return;
  }
  const items = Array.isArray(proposals) ? proposals : proposals.proposals || [];
  list.replaceChildren(...items.map((p) => {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.dataset.state = p.state;
    const errors = p.summary ? p.summary.new_errors : null;
    li.innerHTML = `<b>${text(p.title)}</b><span class="state">${STATES[p.state] || text(p.state)}</span><br>` +
      `<small>${text(p.author)} · 街道 ${text(p.street_code)} · 基于版本 ${p.base_version}` +
      `${errors == null ? "" : ` · 新增错误 ${errors}`}</small>${sizesTable(p.sizes)}`;
    li.append(...buttons(p));
    return li;
  }));
}

window.startProposals = async function () {
  document.getElementById("proposals").hidden = false;
  if (["street_staff", "planner"].includes(city.user.role)) {
    document.getElementById("editor").hidden = false;
    window.onGrids = (layer) => layer.on("click", (event) => pickGrid(event.layer.feature));
    window.onGrids(city.layers.grids);
    document.getElementById("edit-move").onclick = moveGrid;
    document.getElementById("draft-save").onclick = saveDraft;
  }
  await listProposals();
};
