"""The interactive dashboard: one self-contained HTML file (no network fetches) with the paper's
three graphs. Hovering a target shows its best model and the inputs it needs; clicking it lists
all its models' performances.

The paper drew it with ``gravis`` (unmaintained since 2021). Here the layout is computed with
networkx in Python and drawn as inline SVG by a few lines of plain JavaScript: nothing to load,
nothing to break when a CDN moves.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from legibility.evaluation import best_models
from legibility.graphs import layout
from legibility.study import DOMAIN_COLOURS, DOMAINS, target

__all__ = ["dashboard_data", "write_dashboard"]


def dashboard_data(metrics: pd.DataFrame, graphs: dict, best: pd.DataFrame | None = None) -> dict:
    """Everything the page shows, as plain JSON: per graph its nodes (position, size, colour)
    and edges; per target its best model (``best``: the ``best_models.csv`` choice; default
    :func:`legibility.evaluation.best_models` of ``metrics``) and all its models (test scores)."""
    best = (best_models(metrics) if best is None else best).set_index("Target")
    models = {}
    for name, group in metrics.groupby("Target"):
        metric = best.loc[name, "metric"]
        rows = group.sort_values(metric, ascending=False)
        models[name] = [{"inputs": r["Inputs"], "score": float(r[metric]),
                         "ba": float(r["Balanced accuracy"]), "r2": float(r["r2"])} for _, r in rows.iterrows()]
    targets = {name: {"domain": DOMAINS[target(name).domain].name, "colour": DOMAIN_COLOURS[target(name).domain],
                      "metric": "balanced accuracy" if best.loc[name, "metric"] == "Balanced accuracy" else "R²",
                      "best_inputs": best.loc[name, "Inputs"], "best_score": float(best.loc[name, "test_score"]),
                      "chosen_on": str(best.loc[name, "selected_by"]),
                      "models": models[name]} for name in best.index}
    out = {"targets": targets, "graphs": []}
    for title, g in graphs.items():
        pos = layout(g)
        sizes = [d.get("size", 0.0) for _, d in g.nodes(data=True)]
        lo, hi = min(sizes, default=0), max(sizes, default=1)
        nodes = [{"id": n, "x": pos[n][0], "y": pos[n][1],
                  "r": 6 + 14 * ((d.get("size", 0) - lo) / (hi - lo) if hi > lo else 0.5),
                  "size": d.get("size", 0.0), "colour": DOMAIN_COLOURS[target(n).domain]}
                 for n, d in g.nodes(data=True)]
        weights = [w for _, _, w in g.edges(data="weight")]
        wmax = max(weights, default=1.0) or 1.0
        edges = [{"a": a, "b": b, "w": float(w), "width": 0.5 + 3.5 * w / wmax} for a, b, w in g.edges(data="weight")]
        out["graphs"].append({"title": title, "nodes": nodes, "edges": edges})
    return out


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
.graphs { display: flex; flex-wrap: wrap; gap: 12px; }
.graph { border: 1px solid #ddd; border-radius: 6px; padding: 6px; }
.graph h2 { font-size: 14px; margin: 4px 0; }
svg .node { cursor: pointer; stroke: #333; stroke-width: 0.8; }
svg .node:hover { stroke-width: 2.5; }
svg .label { font-size: 9px; pointer-events: none; }
svg .edge { stroke: #999; stroke-opacity: 0.45; }
#tooltip { position: fixed; display: none; background: #fff; border: 1px solid #888; padding: 6px 8px;
           font-size: 12px; border-radius: 4px; pointer-events: none; box-shadow: 0 1px 4px #0003; }
#details table { border-collapse: collapse; font-size: 12px; }
#details td, #details th { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: left; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; }
</style></head>
<body>
<h1 style="font-size:18px">__TITLE__</h1>
<p style="font-size:13px">Hover a target for its best model; click it to list all its models.
__NOTE__</p>
<div class="legend">__LEGEND__</div>
<div class="graphs" id="graphs"></div>
<div id="tooltip"></div>
<div id="details"><p style="font-size:12px;color:#666">Click a target to list its models.</p></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
const W = 420, H = 420, PAD = 40;
const tip = document.getElementById("tooltip");
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.appendChild(e);
  return e;
}
function fmt(x) { return Number.isFinite(x) ? x.toFixed(3) : "n/a"; }
// Every name is inserted as text (textContent, text nodes): a name holding markup shows as written.
function add(parent, tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}
function showTip(ev, name) {
  const t = DATA.targets[name];
  tip.replaceChildren();
  add(tip, "b", name);
  tip.append(" (" + t.domain + ")");
  add(tip, "br");
  tip.append("best model: " + t.best_inputs);
  add(tip, "br");
  tip.append(t.metric + " (test): ");
  add(tip, "span", fmt(t.best_score)).className = "score";
  add(tip, "br");
  add(tip, "span", "chosen on " + t.chosen_on).style.color = "#666";
  tip.style.display = "block";
  tip.style.left = (ev.clientX + 12) + "px";
  tip.style.top = (ev.clientY + 12) + "px";
}
function showDetails(name) {
  const t = DATA.targets[name];
  const main = t.metric === "R²" ? "r2" : "ba";
  const box = document.getElementById("details");
  box.replaceChildren();
  add(box, "h2", name + ": " + t.models.length + " models, best first by " + t.metric).style.fontSize = "15px";
  const table = add(box, "table");
  const head = add(table, "tr");
  for (const label of ["inputs", "balanced accuracy", "R²"]) add(head, "th", label);
  for (const m of t.models) {
    const row = add(table, "tr");
    add(row, "td", m.inputs);
    for (const k of ["ba", "r2"]) {
      const cell = add(row, "td");
      if (k === main) add(cell, "b", fmt(m[k])); else cell.textContent = fmt(m[k]);
    }
  }
}
for (const g of DATA.graphs) {
  const box = document.createElement("div");
  box.className = "graph";
  add(box, "h2", g.title);
  document.getElementById("graphs").appendChild(box);
  const svg = el("svg", {width: W, height: H, "data-graph": g.title}, box);
  const xs = g.nodes.map(n => n.x), ys = g.nodes.map(n => n.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const px = {}, py = {};
  for (const n of g.nodes) {
    px[n.id] = PAD + (W - 2 * PAD) * (x1 > x0 ? (n.x - x0) / (x1 - x0) : 0.5);
    py[n.id] = PAD + (H - 2 * PAD) * (y1 > y0 ? (n.y - y0) / (y1 - y0) : 0.5);
  }
  for (const e of g.edges) el("line", {class: "edge", x1: px[e.a], y1: py[e.a], x2: px[e.b], y2: py[e.b],
                                       "stroke-width": e.width}, svg);
  for (const n of g.nodes) {
    const c = el("circle", {class: "node", cx: px[n.id], cy: py[n.id], r: n.r, fill: n.colour,
                            "data-target": n.id}, svg);
    c.addEventListener("mouseenter", ev => showTip(ev, n.id));
    c.addEventListener("mousemove", ev => showTip(ev, n.id));
    c.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    c.addEventListener("click", () => showDetails(n.id));
    const label = el("text", {class: "label", x: px[n.id] + n.r + 2, y: py[n.id] + 3}, svg);
    label.textContent = n.id;
  }
}
</script>
</body></html>
"""


def write_dashboard(metrics: pd.DataFrame, graphs: dict, path, title: str = "Legibility of the imaged brain",
                    note: str = "", best: pd.DataFrame | None = None) -> Path:
    """Write the dashboard to ``path`` (one HTML file, no external resources); ``best`` as in
    :func:`dashboard_data`."""
    data = json.dumps(dashboard_data(metrics, graphs, best)).replace("</", "<\\/")
    legend = "".join(f'<span><i style="background:{DOMAIN_COLOURS[k]}"></i>{html.escape(d.name)}</span>'
                     for k, d in DOMAINS.items())
    page = (_PAGE.replace("__TITLE__", html.escape(title)).replace("__NOTE__", html.escape(note))
            .replace("__LEGEND__", legend).replace("__DATA__", data))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
