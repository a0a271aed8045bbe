/* The documentation site: reads window.RUNNER_DOCS (data.js), draws the lineage graphs as SVG
   and the details of the node or column named in the URL hash (#!model.x or #!model.x:column). */
(function () {
  "use strict";

  const D = window.RUNNER_DOCS;
  if (!D) {
    document.body.textContent = "data.js is missing: run `runner docs generate`.";
    return;
  }

  // -- indexes ------------------------------------------------------------------------------

  const byId = new Map(D.nodes.map((n) => [n.id, n]));
  const kids = new Map();
  const colKids = new Map();
  const add = (map, key, value) => {
    if (!map.has(key)) map.set(key, []);
    map.get(key).push(value);
  };
  D.nodes.forEach((n) => n.parents.forEach((p) => add(kids, p, n.id)));
  Object.entries(D.lineage).forEach(([k, ps]) => ps.forEach((p) => add(colKids, p, k)));
  const charts = D.nodes.filter((n) => n.kind === "chart");
  charts.forEach((c) => c.reads.forEach((k) => add(colKids, k, c.id)));
  const dashboards = D.nodes.filter((n) => n.kind === "dashboard");
  const dashboardOf = new Map();
  dashboards.forEach((d) => d.parents.forEach((c) => dashboardOf.set(c, d)));

  const splitKey = (key) => {
    const i = key.indexOf(":");
    return i < 0 ? [key, null] : [key.slice(0, i), key.slice(i + 1)];
  };
  const isColumn = (key) => key.indexOf(":") >= 0;
  const colLabel = (key) => {
    const [id, col] = splitKey(key);
    const node = byId.get(id);
    return col === null ? (node ? node.label : id) : `${node ? node.label : id}.${col}`;
  };
  const parentsOf = (key) => {
    if (isColumn(key)) return D.lineage[key] || [];
    const node = byId.get(key);
    return node && node.kind === "chart" ? node.reads : [];
  };
  const walk = (starts, next) => {
    const seen = new Set();
    const todo = [...starts];
    while (todo.length) {
      const k = todo.pop();
      for (const m of next(k)) {
        if (!seen.has(m)) {
          seen.add(m);
          todo.push(m);
        }
      }
    }
    return seen;
  };
  const ancestorsOf = (key) => walk([key], parentsOf);
  const descendantsOf = (key) => walk([key], (k) => colKids.get(k) || []);
  const rawOf = (key) =>
    [...ancestorsOf(key)].filter((k) => isColumn(k) && k.startsWith("source.")).sort();
  const nodeAncestors = (id) => walk([id], (k) => (byId.get(k) || { parents: [] }).parents);
  const nodeDescendants = (id) => walk([id], (k) => kids.get(k) || []);

  const kindClass = (node) => {
    if (!node) return "";
    if (node.kind === "model") return `k-${node.group}`;
    return `k-${node.kind}`;
  };

  // -- DOM helpers --------------------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "html") e.innerHTML = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function s(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    children.flat().forEach((c) => c && e.append(c instanceof Node ? c : document.createTextNode(c)));
    return e;
  }
  const escapeHtml = (t) =>
    String(t).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  // Descriptions: plain text with `code` spans.
  const prose = (text) =>
    text
      ? h("p", { class: "desc", html: escapeHtml(text).replace(/`([^`]+)`/g, "<code>$1</code>") })
      : h("p", { class: "desc empty" }, "No description.");
  const href = (key) => `#!${key}`;
  const link = (key, text) => h("a", { href: href(key) }, text || colLabel(key));
  const chip = (text, cls, key) =>
    key ? h("a", { class: `chip ${cls || ""}`, href: href(key), title: colLabel(key) }, text)
        : h("span", { class: `chip ${cls || ""}` }, text);
  const chips = (items, limit) => {
    const shown = limit ? items.slice(0, limit) : items;
    const out = h("div", { class: "chips" }, shown);
    if (limit && items.length > limit) out.append(h("span", { class: "chip more" }, `+${items.length - limit}`));
    return out;
  };
  const clip = (t, n) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);
  const card = (...children) => h("div", { class: "card" }, ...children);

  // -- layered graph ------------------------------------------------------------------------

  /* items: {id, layer, title, sub, cls, href, tip}; edges: [from, to]. Columns by layer, each
     ordered by the mean position of its neighbours (a few sweeps), centred vertically. */
  function drawGraph(items, edges, opts) {
    const W = opts.width, H = opts.height, GAP = opts.gap, VG = opts.vgap, PAD = 10, TOP = 22;
    const layers = [...new Set(items.map((i) => i.layer))].sort((a, b) => a - b);
    const cols = layers.map((l) => items.filter((i) => i.layer === l));
    const ins = new Map(), outs = new Map(), pos = new Map();
    edges.forEach(([a, b]) => { add(ins, b, a); add(outs, a, b); });
    const place = (col) => col.forEach((it, i) => pos.set(it.id, i - (col.length - 1) / 2));
    cols.forEach(place);
    for (let pass = 0; pass < 6; pass++) {
      const down = pass % 2 === 0;
      const seq = down ? cols.slice(1) : cols.slice(0, -1).reverse();
      for (const col of seq) {
        col.forEach((it) => {
          const nb = ((down ? ins : outs).get(it.id) || []).filter((n) => pos.has(n));
          it._b = nb.length ? nb.reduce((t, n) => t + pos.get(n), 0) / nb.length : pos.get(it.id);
        });
        col.sort((a, b) => a._b - b._b);
        place(col);
      }
    }
    const tallest = Math.max(...cols.map((c) => c.length));
    const xy = new Map();
    cols.forEach((col, ci) => {
      const offset = ((tallest - col.length) * (H + VG)) / 2;
      col.forEach((it, i) => xy.set(it.id, [PAD + ci * (W + GAP), TOP + offset + i * (H + VG)]));
    });
    const width = PAD * 2 + cols.length * W + (cols.length - 1) * GAP;
    const height = TOP + tallest * (H + VG) + PAD;
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%",
      style: `max-width:${width}px`, class: opts.dim ? "dim" : "", role: "img" });
    (opts.layerTitles || []).forEach((t, ci) => {
      if (t && ci < cols.length) svg.append(s("text", { class: "layer-title", x: PAD + ci * (W + GAP), y: 13 }, t));
    });
    const on = opts.on || new Set();
    for (const [a, b] of edges) {
      if (!xy.has(a) || !xy.has(b)) continue;
      const [x1, y1] = xy.get(a), [x2, y2] = xy.get(b);
      const sx = x1 + W, sy = y1 + H / 2, ex = x2, ey = y2 + H / 2, mx = (sx + ex) / 2;
      const lit = (on.has(a) || opts.sel === a) && (on.has(b) || opts.sel === b);
      svg.append(s("path", { class: `edge${lit ? " on" : ""}`, d: `M${sx},${sy} C${mx},${sy} ${mx},${ey} ${ex},${ey}` }));
    }
    const maxChars = Math.floor((W - 14) / 6.2);
    const fit = (t, n) => (t.length > n ? `${t.slice(0, n - 1)}…` : t);
    for (const it of items) {
      const [x, y] = xy.get(it.id);
      const cls = `node ${it.cls || ""}${on.has(it.id) ? " on" : ""}${opts.sel === it.id ? " sel" : ""}`;
      const g = s("g", { class: cls, transform: `translate(${x},${y})`, "data-id": it.id,
        onclick: () => { location.hash = it.href; } });
      g.append(s("title", {}, it.tip || it.title));
      g.append(s("rect", { width: W, height: H, rx: 5 }));
      g.append(s("rect", { class: "band", width: 4, height: H - 2, x: 1, y: 1, rx: 2 }));
      if (it.sub) {
        g.append(s("text", { class: "sub", x: 11, y: 13 }, fit(it.sub, Math.floor(maxChars * 1.12))));
        g.append(s("text", { x: 11, y: H - 8 }, fit(it.title, maxChars)));
      } else {
        g.append(s("text", { x: 11, y: H / 2 + 4 }, fit(it.title, maxChars)));
      }
      svg.append(g);
    }
    return svg;
  }

  const LAYER_NAMES = { source: "sources", chart: "charts" };
  function layerTitles(nodes) {
    const layers = [...new Set(nodes.map((n) => n.layer))].sort((a, b) => a - b);
    return layers.map((l) => {
      const groups = [...new Set(nodes.filter((n) => n.layer === l).map((n) => LAYER_NAMES[n.kind] || n.group))];
      return groups.join(" · ");
    });
  }

  function tableGraph(sel, on) {
    const nodes = D.nodes.filter((n) => n.kind !== "dashboard");
    const items = nodes.map((n) => ({
      id: n.id, layer: n.layer, title: n.label, cls: kindClass(n), href: href(n.id),
      tip: n.kind === "chart" ? `${n.title} (${n.chart_type}, ${n.dataset})` : `${n.label} — ${n.description || n.kind}`,
    }));
    const edges = [];
    nodes.forEach((n) => n.parents.forEach((p) => byId.has(p) && edges.push([p, n.id])));
    const titles = layerTitles(nodes);
    if (dashboards.length) titles[titles.length - 1] = `charts · ${dashboards.map((d) => d.label).join(", ")}`;
    return drawGraph(items, edges, { width: 178, height: 24, gap: 34, vgap: 7, sel, on,
      dim: Boolean(sel), layerTitles: titles });
  }

  function columnGraph(key) {
    const up = ancestorsOf(key), down = descendantsOf(key);
    const keys = [...new Set([...up, key, ...down])].sort();
    const items = keys.map((k) => {
      const [id, col] = splitKey(k);
      const node = byId.get(id);
      return { id: k, layer: node ? node.layer : 0, cls: kindClass(node), href: href(k),
        title: col === null ? node.label : col, sub: col === null ? `chart · ${node.chart_type}` : node.label,
        tip: colLabel(k) };
    });
    const edges = [];
    const inGraph = new Set(keys);
    keys.forEach((k) => parentsOf(k).forEach((p) => inGraph.has(p) && edges.push([p, k])));
    const nodes = keys.map((k) => byId.get(splitKey(k)[0])).filter(Boolean);
    return drawGraph(items, edges, { width: 178, height: 34, gap: 36, vgap: 8, sel: key,
      on: new Set(keys), layerTitles: layerTitles([...new Map(nodes.map((n) => [n.id, n])).values()]) });
  }

  // -- sidebar ------------------------------------------------------------------------------

  const GROUP_TITLES = { staging: "Staging", intermediate: "Intermediate", marts: "Marts", models: "Models" };
  function sidebar(query) {
    const tree = document.getElementById("tree");
    tree.replaceChildren();
    const q = (query || "").trim().toLowerCase();
    const entry = (node, indent) => {
      let target = node.id, hint = null;
      if (q) {
        const inName = node.label.toLowerCase().includes(q) || node.name.toLowerCase().includes(q) ||
          (node.title || "").toLowerCase().includes(q);
        const cols = (node.columns || []).filter((c) => c.name.toLowerCase().includes(q));
        if (!inName && !cols.length) return null;
        if (!inName) {
          hint = cols.length === 1 ? cols[0].name : `${cols.length} columns`;
          if (cols.length === 1) target = `${node.id}:${cols[0].name}`;
        }
      }
      return h("a", { href: href(target), "data-node": node.id, class: `${kindClass(node)}${hint ? " match-col" : ""}`,
        "data-hint": hint, style: indent ? "padding-left:20px" : null, title: node.title || node.label },
      h("span", { class: "dot" }), node.kind === "chart" ? node.name : node.label);
    };
    const section = (title, nodes, indent) => {
      const links = nodes.map((n) => entry(n, indent)).filter(Boolean);
      if (links.length) tree.append(h("h3", {}, title), ...links);
    };
    section("Sources", D.nodes.filter((n) => n.kind === "source"));
    const groups = [...new Set(D.nodes.filter((n) => n.kind === "model").map((n) => n.group))];
    const order = ["staging", "intermediate", "marts"];
    groups.sort((a, b) => (order.indexOf(a) + 99) % 99 - (order.indexOf(b) + 99) % 99);
    groups.forEach((g) => section(GROUP_TITLES[g] || g, D.nodes.filter((n) => n.kind === "model" && n.group === g)
      .sort((a, b) => a.name.localeCompare(b.name))));
    dashboards.forEach((d) => {
      const links = [entry(d, false), ...d.parents.map((c) => entry(byId.get(c), true))].filter(Boolean);
      if (links.length) tree.append(h("h3", {}, "Dashboard"), ...links);
    });
    markActive();
  }
  function markActive() {
    const [id] = splitKey(current());
    document.querySelectorAll("#tree a").forEach((a) => a.classList.toggle("active", a.dataset.node === id));
  }

  // -- views --------------------------------------------------------------------------------

  const current = () => decodeURIComponent(location.hash.replace(/^#!?/, ""));

  function header(node, extra) {
    const badges = [h("span", { class: `badge ${kindClass(node)}` }, node.kind === "model" ? node.group : node.kind)];
    if (node.materialized) badges.push(h("span", { class: "badge plain" }, node.materialized));
    (node.tags || []).forEach((t) => badges.push(h("span", { class: "badge plain" }, `tag: ${t}`)));
    return [h("h1", {}, node.kind === "chart" ? node.title : node.label, ...badges),
      h("div", { class: "meta" }, node.path ? h("span", {}, node.path) : null, ...(extra || []))];
  }

  function relations(node) {
    const ups = node.parents.filter((p) => byId.has(p));
    const downs = (kids.get(node.id) || []).filter((k) => byId.has(k));
    const list = (ids) => ids.length ? chips(ids.map((i) => chip(byId.get(i).kind === "chart" ? byId.get(i).name : byId.get(i).label, "", i))) : h("span", { class: "hint" }, "none");
    return h("div", { class: "two" },
      h("div", {}, h("h2", {}, `Reads (${ups.length})`), list(ups)),
      h("div", {}, h("h2", {}, `Read by (${downs.length})`), list(downs)));
  }

  function rawChips(key, limit) {
    const raw = rawOf(key);
    return raw.length ? chips(raw.map((k) => chip(colLabel(k).replace(/^[^.]+\./, ""), "raw", k)), limit)
      : h("span", { class: "hint" }, "—");
  }

  function modelView(node) {
    const typed = node.columns.some((c) => c.type);
    const rows = node.columns.map((c) => {
      const key = `${node.id}:${c.name}`;
      return h("tr", { class: "col-row", "data-column": `${node.label}.${c.name}`, onclick: () => { location.hash = href(key); } },
        h("td", { class: "name" }, link(key, c.name), c.in_sql === false ? h("span", { class: "warn", title: "documented, but the SQL does not select it" }, " ⚠") : null),
        typed ? h("td", {}, c.type || "") : null,
        h("td", {}, c.description || ""),
        node.kind === "model" ? h("td", {}, chips(c.tests.map((t) => chip(t, "test")))) : null,
        node.kind === "model" ? h("td", {}, rawChips(key, 4)) : h("td", {}, usedByCount(key)));
    });
    const head = (node.kind === "model" ? ["Column", "Type", "Description", "Tests", "Comes from (raw columns)"]
      : ["Column", "Type", "Description", "Read by"]).filter((t) => typed || t !== "Type");
    const parts = [
      card(...header(node, node.file ? [h("span", {}, `file: ${node.file}`)] : []), prose(node.description),
        node.lineage_error ? h("p", { class: "warn" }, `Column lineage unavailable: ${node.lineage_error}`) : null),
      card(h("h2", {}, `Columns (${node.columns.length})`), h("p", { class: "hint" }, "Click a column to see where its values come from and what reads it."),
        h("table", { class: "cols" }, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, rows))),
      card(relations(node)),
    ];
    if (node.tests && node.tests.length) {
      parts.push(card(h("h2", {}, `Data tests (${node.tests.length})`),
        h("table", { class: "cols tests" }, h("thead", {}, h("tr", {}, ["Test", "Kind", "Column", "Severity", "Arguments"].map((t) => h("th", {}, t)))),
          h("tbody", {}, node.tests.map((t) => h("tr", {}, h("td", { class: "name" }, t.name), h("td", {}, t.kind),
            h("td", {}, t.column || "—"), h("td", {}, t.severity),
            h("td", { class: "args", title: t.args }, t.args ? h("code", {}, clip(t.args, 140)) : "—")))))));
    }
    if (node.sql) parts.push(card(h("details", {}, h("summary", {}, "Compiled SQL"), h("pre", { class: "sql" }, node.sql))));
    return parts;
  }

  function usedByCount(key) {
    const n = [...descendantsOf(key)].length;
    return n ? `${n} columns and charts` : h("span", { class: "hint" }, "—");
  }

  function chartView(node) {
    const dash = dashboardOf.get(node.id);
    const key = node.id;
    return [
      card(...header(node, [h("span", {}, `${node.chart_type} chart`), h("span", {}, `dataset ${node.dataset}`),
        node.parents.length ? h("span", {}, "reads ", link(node.parents[0], node.mart)) : h("span", {}, `reads ${node.mart} (a table the runner writes)`),
        dash ? h("span", {}, "on ", link(dash.id, dash.label)) : null]), prose(node.description || node.dataset_description)),
      card(h("h2", {}, "What it shows"),
        h("table", { class: "cols" }, h("thead", {}, h("tr", {}, ["Field", "Name", "Kind", "Expression"].map((t) => h("th", {}, t)))),
          h("tbody", {}, node.fields.map((f) => h("tr", {}, h("td", {}, f.field), h("td", { class: "name" }, f.name), h("td", {}, f.kind),
            h("td", {}, f.expression ? h("code", {}, f.expression) : "—")))))),
      lineageCards(key),
    ].flat();
  }

  function lineageCards(key) {
    const raw = rawOf(key);
    const up = [...ancestorsOf(key)];
    const down = [...descendantsOf(key)].sort();
    const [id] = splitKey(key);
    const through = new Map();
    up.filter((k) => isColumn(k) && !k.startsWith("source.")).forEach((k) => add(through, splitKey(k)[0], splitKey(k)[1]));
    const throughItems = [...through.entries()].sort((a, b) => byId.get(a[0]).layer - byId.get(b[0]).layer || a[0].localeCompare(b[0]))
      .map(([nid, cols]) => h("li", {}, link(nid, byId.get(nid).label), ": ", chips(cols.sort().map((c) => chip(c, "", `${nid}:${c}`)))));
    const rawList = raw.length
      ? h("ul", { id: "raw-columns", class: "plain" }, raw.map((k) => {
          const [sid, col] = splitKey(k);
          return h("li", { "data-col": k }, h("a", { href: href(k) }, h("span", { class: "rel" }, `${byId.get(sid).label}.`), h("strong", {}, col)));
        }))
      : h("ul", { id: "raw-columns", class: "plain" }, h("li", { class: "hint" }, id.startsWith("source.") ? "This is a raw column." : "None: a constant, a count or a literal."));
    const usedBy = down.length
      ? h("ul", { id: "used-by", class: "plain path-list" }, down.map((k) => h("li", {}, isColumn(k) ? link(k) : h("span", {}, "chart ", link(k, `${byId.get(k).name} — ${byId.get(k).title}`)))))
      : h("p", { class: "hint" }, "Nothing reads it.");
    return [
      card(h("div", { class: "two" },
        h("div", {}, h("h2", {}, `Raw columns it comes from (${raw.length})`), rawList,
          throughItems.length ? [h("h2", { style: "margin-top:14px" }, "Through"), h("ul", { id: "through", class: "plain path-list" }, throughItems)] : null),
        h("div", {}, h("h2", {}, `Used by (${down.length})`), usedBy))),
      card(h("h2", {}, "Column lineage"), h("p", { class: "hint" }, "Values flow left to right; filters and join keys are not counted. Click a box to follow it."),
        h("div", { class: "graph", id: "column-graph" }, columnGraph(key))),
    ];
  }

  function columnView(key) {
    const [id, col] = splitKey(key);
    const node = byId.get(id);
    if (!node) return [card(h("h1", {}, "Not found"), h("p", {}, key))];
    const doc = (node.columns || []).find((c) => c.name === col) || { name: col };
    return [
      card(h("h1", {}, `${node.label}.${col}`, h("span", { class: "badge plain" }, "column"),
        h("span", { class: `badge ${kindClass(node)}` }, node.kind === "model" ? node.group : node.kind)),
      h("div", { class: "meta" }, h("span", {}, "of ", link(id, node.label)), doc.type ? h("span", {}, `type ${doc.type}`) : null,
        (doc.tests || []).length ? h("span", {}, `tests: ${doc.tests.join(", ")}`) : null),
      prose(doc.description)),
      ...lineageCards(key),
    ];
  }

  function dashboardView(node) {
    return [
      card(...header(node), h("p", { class: "desc" }, `${node.parents.length} charts.`)),
      ...node.sections.map((sec) => card(h("h2", {}, sec.title),
        h("ul", { class: "plain path-list" }, sec.charts.map((c) => h("li", {}, link(c, byId.get(c).name), ` — ${byId.get(c).title} `,
          h("span", { class: "hint" }, `(${byId.get(c).chart_type}, ${byId.get(c).dataset})`)))))),
    ];
  }

  function overview() {
    const c = D.counts;
    return [card(h("h1", {}, D.project), h("div", { class: "meta" }, h("span", {}, `target ${D.target}`), h("span", {}, `generated ${D.generated_at}`)),
      h("div", { class: "stats" }, ...[["sources", c.sources], ["models", c.models], ["columns", c.columns], ["data tests", c.tests], ["charts", c.charts]]
        .map(([t, n]) => h("div", {}, h("b", {}, n), t))),
      h("p", { class: "desc" }, "Pick a node in the graph or the sidebar. A model's columns table shows, for each column, the raw source columns its values come from; click a column for its whole lineage, model by model, and the charts that show it."))];
  }

  function render() {
    const key = current();
    const details = document.getElementById("details");
    let parts, sel = null, on = new Set();
    const [id, col] = splitKey(key);
    const node = byId.get(id);
    if (!key || !node) {
      parts = overview();
    } else if (col !== null) {
      parts = columnView(key);
      sel = id;
      [...ancestorsOf(key), ...descendantsOf(key)].forEach((k) => on.add(splitKey(k)[0]));
    } else {
      parts = node.kind === "chart" ? chartView(node) : node.kind === "dashboard" ? dashboardView(node) : modelView(node);
      sel = node.kind === "dashboard" ? null : id;
      if (node.kind === "dashboard") node.parents.forEach((c) => on.add(c));
      else [...nodeAncestors(id), ...nodeDescendants(id)].forEach((k) => on.add(k));
    }
    details.replaceChildren(...parts);
    document.getElementById("graph").replaceChildren(tableGraph(sel, on));
    document.getElementById("graph-title").textContent = col !== null ? `Lineage — tables on the path of ${colLabel(key)}` : "Lineage — tables and charts";
    document.title = `${key ? colLabel(key) + " · " : ""}${D.project} docs`;
    markActive();
  }

  // -- start --------------------------------------------------------------------------------

  document.getElementById("project-name").textContent = D.project;
  document.getElementById("generated").textContent = `${D.target} · ${D.generated_at}`;
  document.getElementById("legend").append(
    ...[["source", "k-source"], ["staging", "k-staging"], ["intermediate", "k-intermediate"], ["mart", "k-marts"], ["chart", "k-chart"]]
      .map(([t, c]) => h("span", { class: c }, h("span", { class: "dot" }), t)));
  const search = document.getElementById("search");
  search.addEventListener("input", () => sidebar(search.value));
  window.addEventListener("hashchange", () => { render(); window.scrollTo(0, 0); });
  sidebar("");
  render();
})();
