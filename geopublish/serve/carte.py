"""``/carte``: the offline map of the whole catalogue (French), drawn by MapLibre GL JS.

MapLibre comes from the service's own vendored copy (``/assets/vendor/maplibre-gl``), the
style from ``/styles/catalogue.json`` and the tiles from each collection's tile set, so the
page makes no request outside the service. A checkbox per layer toggles it; a click on a
feature opens a pop-up with its attributes and a link to its item page.
"""

from __future__ import annotations

import html
import json
from typing import Any

PAGE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Carte – {title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/vendor/maplibre-gl/dist/maplibre-gl.css">
<style>
  html, body {{ margin: 0; height: 100%; font-family: system-ui, sans-serif; }}
  #carte {{ position: absolute; inset: 0; }}
  #couches {{ position: absolute; top: 10px; left: 10px; z-index: 2; background: #fff;
             padding: 8px 12px; border-radius: 4px; box-shadow: 0 1px 4px #0004;
             max-height: 80%; overflow: auto; font-size: 14px; }}
  #couches label {{ display: block; white-space: nowrap; }}
  .maplibregl-popup-content table {{ border-collapse: collapse; font-size: 13px; }}
  .maplibregl-popup-content th {{ text-align: left; padding-right: 8px; }}
</style>
</head>
<body>
<nav id="couches" aria-label="Couches"><strong>Couches</strong>{switches}</nav>
<div id="carte" role="region" aria-label="Carte du catalogue"></div>
<script src="/assets/vendor/maplibre-gl/dist/maplibre-gl.js"></script>
<script>
const LAYERS = {layers};
const carte = new maplibregl.Map({{
  container: "carte", style: "/styles/catalogue.json", bounds: {bounds},
  attributionControl: {{compact: true}}, fadeDuration: 0
}});
carte.addControl(new maplibregl.NavigationControl());
carte.on("load", () => {{ document.body.dataset.loaded = "1"; }});
// Failed loads (style, TileJSON, tiles fetched by the workers) are kept for the page's checks.
window.erreurs = [];
carte.on("error", (e) => {{ window.erreurs.push(String((e.error && e.error.message) || e)); }});
carte.on("idle", () => {{ document.body.dataset.idle = "1"; }});
function styleLayers(cid) {{
  return carte.getStyle().layers.filter(
    (l) => l.metadata && l.metadata["geopublish:collection"] === cid).map((l) => l.id);
}}
document.querySelectorAll("#couches input").forEach((box) => {{
  box.addEventListener("change", () => {{
    for (const id of styleLayers(box.value)) {{
      carte.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none");
    }}
  }});
}});
function cell(text) {{ const td = document.createElement("td"); td.textContent = text; return td; }}
carte.on("click", (event) => {{
  const box = [[event.point.x - 4, event.point.y - 4], [event.point.x + 4, event.point.y + 4]];
  const found = carte.queryRenderedFeatures(box).filter(
    (f) => f.layer.metadata && LAYERS[f.layer.metadata["geopublish:collection"]]);
  if (!found.length) return;
  const feature = found[0];
  const cid = feature.layer.metadata["geopublish:collection"];
  const info = LAYERS[cid];
  const root = document.createElement("div");
  const head = document.createElement("strong");
  head.textContent = info.title;
  const table = document.createElement("table");
  for (const [key, value] of Object.entries(feature.properties)) {{
    const row = document.createElement("tr");
    const th = document.createElement("th"); th.textContent = key;
    row.append(th, cell(String(value)));
    table.append(row);
  }}
  const link = document.createElement("a");
  const fid = feature.properties[info.id];
  link.href = "/collections/" + cid + "/items/" + encodeURIComponent(fid) + "?f=html";
  link.textContent = "Voir la fiche de l'objet";
  link.className = "fiche";
  root.append(head, table, link);
  new maplibregl.Popup({{maxWidth: "320px"}}).setLngLat(event.lngLat).setDOMContent(root)
    .addTo(carte);
}});
</script>
</body>
</html>
"""


def page(title: str, entries: list[dict[str, Any]], bounds: list[float]) -> str:
    """The map page over ``entries`` (id, title, id field), framed on ``bounds``."""
    switches = "".join(
        f'<label><input type="checkbox" value="{html.escape(e["id"])}" checked> '
        f"{html.escape(e['title'])}</label>"
        for e in entries
    )
    layers = {e["id"]: {"title": e["title"], "id": e["id_field"]} for e in entries}
    script_json = json.dumps(layers, ensure_ascii=False).replace("<", "\\u003c")
    return PAGE.format(
        title=html.escape(title),
        switches=switches,
        layers=script_json,
        bounds=json.dumps([[bounds[0], bounds[1]], [bounds[2], bounds[3]]]),
    )
