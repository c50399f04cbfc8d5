// wangge viewer: the street's units, buildings by households and the check findings, over the
// OGC API - Features endpoints of the same app. Loads nothing from the internet; a base map is
// shown only when the server's settings name a tile URL (/viewer/config).
"use strict";

// colours of the levels and severities come from the server (/viewer/config: gis.maps.style), as
// on the offline maps
const LEVELS = [
  ["streets", "街道", { weight: 5, opacity: 0.5, fill: false }],
  ["communities", "社区", { weight: 2.5, opacity: 0.9, fill: false }],
  ["grids", "网格", { weight: 1, dashArray: "4 3", fillOpacity: 0.03 }],
];
const HOUSEHOLD_CLASSES = [[0, "#fee5d9"], [20, "#fcae91"], [50, "#fb6a4a"], [100, "#de2d26"], [200, "#a50f15"]];
const SEVERITY = {};
const map = L.map("map", { preferCanvas: true, zoomControl: true });
map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
const control = L.control.layers(null, null, { collapsed: false }).addTo(map);
const status = document.getElementById("status");
let findingsLayer = null;
let token = sessionStorage.getItem("wangge-token");
const city = { version: null, user: null, units: {}, layers: {} };  // shared with proposals.js

function say(text, isError) {
  status.textContent = text;
  status.className = isError ? "error" : "";
}

class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function send(method, url, body, headers = {}) {
  const h = { Accept: "application/geo+json, application/json", ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new HTTPError(response.status, data.description || data.detail || response.statusText);
  return data;
}

const getJSON = (url) => send("GET", url);

function login() {  // resolves once the user has a token
  const dialog = document.getElementById("login");
  const error = document.getElementById("login-error");
  return new Promise((resolve) => {
    document.getElementById("login-form").onsubmit = async (event) => {
      event.preventDefault();
      try {
        const answer = await send("POST", "auth/token", {
          username: document.getElementById("login-user").value,
          password: document.getElementById("login-password").value,
        });
        token = answer.access_token;
        sessionStorage.setItem("wangge-token", token);
        dialog.close();
        resolve(answer.user);
      } catch (e) {
        error.textContent = e.status === 401 ? "用户名或密码错误" : `登录失败：${e.message}`;
      }
    };
    dialog.showModal();
  });
}

const ROLES = { street_staff: "街道工作人员", planner: "规划人员", reviewer: "审核人员", admin: "管理员" };

async function whoAmI(config) {
  if (token) {
    try {
      return await getJSON("auth/me");
    } catch (e) {
      if (e.status !== 401) throw e;  // expired: sign in again
      token = null;
      sessionStorage.removeItem("wangge-token");
    }
  }
  return config.public_read ? null : login();
}

function showUser(user) {
  const box = document.getElementById("user");
  box.replaceChildren();
  if (!user) {  // reading anonymously: proposals need an account
    const button = document.createElement("button");
    button.textContent = "登录";
    button.onclick = async () => {
      await login();
      await started;  // the anonymous view first finishes loading, so it cannot overwrite the signed-in one
      city.user = await getJSON("auth/me");
      showUser(city.user);
      await reload();  // the signed-in view: this user's street
      if (window.startProposals) await window.startProposals();
    };
    box.replaceChildren("未登录（只读）", button);
    return;
  }
  box.textContent = `${user.username} · ${ROLES[user.role] || user.role}${user.street_code ? ` · 街道 ${user.street_code}` : ""}`;
  const out = document.createElement("button");
  out.textContent = "退出";
  out.onclick = () => { sessionStorage.removeItem("wangge-token"); location.reload(); };
  box.appendChild(out);
}

async function allFeatures(layer) {
  const features = [];
  let url = `collections/${layer}/items?limit=10000`;
  while (url) {
    const page = await getJSON(url);
    features.push(...page.features);
    const next = (page.links || []).find((link) => link.rel === "next");
    url = next ? next.href : null;
  }
  return { type: "FeatureCollection", features };
}

function text(value) {
  const span = document.createElement("span");
  span.textContent = value == null ? "" : String(value);
  return span.innerHTML;
}

function householdColour(n) {
  let colour = HOUSEHOLD_CLASSES[0][1];
  for (const [from, c] of HOUSEHOLD_CLASSES) if (n >= from) colour = c;
  return colour;
}

async function loadUnits() {
  const bounds = L.latLngBounds([]);
  for (const [layer, label, style] of LEVELS) {
    let fc;
    try { fc = await allFeatures(layer); } catch (e) { continue; }  // a city may lack a level
    const gj = L.geoJSON(fc, { style: () => style, interactive: layer === "grids" })
      .bindTooltip((l) => `${label} ${text(l.feature.id)} ${text(l.feature.properties.name)}`, { sticky: true });
    if (city.layers[layer]) { control.removeLayer(city.layers[layer]); map.removeLayer(city.layers[layer]); }
    city.units[layer] = fc;
    city.layers[layer] = gj;
    if (layer === "grids" && window.onGrids) window.onGrids(gj);
    gj.addTo(map);
    control.addOverlay(gj, `${label} (${fc.features.length})`);
    if (fc.features.length) bounds.extend(gj.getBounds());
  }
  const buildings = city.layers.buildings ? null : await allFeatures("buildings").catch(() => null);
  if (buildings) {
    const gj = L.geoJSON(buildings, {
      style: (f) => ({ color: "#555", weight: 0.4, fillColor: householdColour(f.properties.households || 0), fillOpacity: 0.85 }),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 3 }),
    }).bindTooltip((l) => `建筑 ${text(l.feature.id)} · ${text(l.feature.properties.households)} 户`, { sticky: true });
    gj.addTo(map);
    city.layers.buildings = gj;
    control.addOverlay(gj, `建筑 (${buildings.features.length})`);
    if (!bounds.isValid() && buildings.features.length) bounds.extend(gj.getBounds());
  }
  if (!city.fitted) {
    if (bounds.isValid()) map.fitBounds(bounds); else map.setView([28.68, 115.89], 13);
    city.fitted = true;
  }
  if (city.layers.grids) city.layers.grids.bringToFront();
}

async function loadFindings(rules) {
  say(`正在检查（${rules}）…`);
  const result = await getJSON(`findings?rules=${encodeURIComponent(rules)}`);
  if (findingsLayer) { control.removeLayer(findingsLayer); map.removeLayer(findingsLayer); }
  const list = document.getElementById("findings");
  list.replaceChildren();
  const features = result.findings.filter((f) => f.geometry).map((f, i) => ({ type: "Feature", id: i, geometry: f.geometry, properties: f }));
  const byIndex = new Map();
  findingsLayer = L.geoJSON({ type: "FeatureCollection", features }, {
    style: (f) => ({ color: SEVERITY[f.properties.severity], weight: 2.5, fillOpacity: 0.35 }),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { radius: 7 }),
    onEachFeature: (f, layer) => byIndex.set(f.id, layer),
  }).bindTooltip((l) => `<b>${text(l.feature.properties.message)}</b><br>${text(l.feature.properties.code)}`, { sticky: true });
  findingsLayer.addTo(map);
  control.addOverlay(findingsLayer, "检查结果");
  result.findings.forEach((f, i) => {
    const item = document.createElement("li");
    item.className = f.severity;
    item.innerHTML = `${text(f.message)} <span class="code">${text(f.code)}</span>`;
    item.addEventListener("click", () => {
      document.querySelectorAll("#findings li.active").forEach((el) => el.classList.remove("active"));
      item.classList.add("active");
      const layer = byIndex.get(i);
      if (!layer) return;
      if (layer.getBounds) map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [40, 40] });
      else map.setView(layer.getLatLng(), 18);
      layer.openTooltip();
    });
    list.appendChild(item);
  });
  const s = result.summary || {};
  document.getElementById("counts").textContent = `错误 ${s.errors ?? 0} · 警告 ${s.warnings ?? 0}`;
  city.version = result.version ?? null;
  say(`规则集 ${rules} · 城市版本 ${result.version ?? "?"}`);
}

async function reload() {  // after a proposal is applied: the new lines and their findings
  await loadUnits();
  await loadFindings(document.getElementById("rules").value);
}

function legend() {
  const box = L.control({ position: "bottomright" });
  box.onAdd = () => {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML = "<b>每栋户数</b><br>" + HOUSEHOLD_CLASSES.map(([from, c], k) => {
      const to = HOUSEHOLD_CLASSES[k + 1] ? `–${HOUSEHOLD_CLASSES[k + 1][0]}` : "+";
      return `<i style="background:${c}"></i>${from}${to}`;
    }).join("<br>") + `<br><i style="background:${SEVERITY.error}"></i>错误 <i style="background:${SEVERITY.warning}"></i>警告`;
    return div;
  };
  box.addTo(map);
}

async function main() {
  const config = await getJSON("viewer/config").catch(() => ({}));
  Object.assign(SEVERITY, config.severity_colours || {});
  for (const [layer, , style] of LEVELS) style.color = (config.level_colours || {})[layer];
  legend();
  L.control.scale({ imperial: false }).addTo(map);
  if (config.tiles) L.tileLayer(config.tiles, { attribution: config.attribution || "" }).addTo(map);
  city.user = await whoAmI(config);
  showUser(city.user);
  await loadUnits();
  const select = document.getElementById("rules");
  select.addEventListener("change", () => loadFindings(select.value).catch((e) => say(`检查失败：${e.message}`, true)));
  await loadFindings(select.value);
  if (city.user && window.startProposals) await window.startProposals();
}

const started = main().catch((e) => say(`载入失败：${e.message}`, true));
