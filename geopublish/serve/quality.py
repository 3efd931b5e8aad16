"""Quality scores over HTTP: ``/quality`` (JSON), ``/quality/<id>`` and the French dashboard.

Scores are computed by the pipeline and the scheduler (``ledger/scores.py``); this module only
reads the ledger: each layer's newest entry, its daily series, its last run and its refused
runs; for a federated layer, each publisher's too. Collection documents get a ``quality``
block with the current scores (a federated layer's, per publisher). The dashboard
(``/tableau-de-bord``) loads Bootstrap and Chart.js from ``/assets/vendor``: no outside request.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

from flask import Flask, Response, request
from jinja2 import Environment, select_autoescape

from geopublish.ledger import RunLog
from geopublish.ledger.scores import SCORES, ScoreLog, combine
from geopublish.settings import Settings

SAFE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
COLLECTION = re.compile(r"^/collections/(?P<cid>[a-z][a-z0-9_]*)/?$")
LABELS = {
    "availability": "Disponibilité",
    "freshness": "Fraîcheur",
    "conformity": "Conformité",
    "validity": "Validité",
    "completeness": "Complétude",
}
OUTCOMES = {
    "published": "publiée",
    "unchanged": "inchangée",
    "refused": "refusée",
    "failed": "en échec",
}


class Quality:
    """The quality routes, bound to the settings and the loaded configuration."""

    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        self.settings = settings
        self.resources: dict[str, Any] = config.get("resources", {})
        self.publishers: dict[str, str] = {}

    def layers(self) -> list[str]:
        """Collections the configuration serves, in its order."""
        return [cid for cid in self.resources if SAFE_ID.match(cid)]

    def layer(self, cid: str, days: int = 90) -> dict[str, Any]:
        """Current scores, daily history, last run and refused runs of one layer."""
        var = self.settings.var_dir
        runs = RunLog(var, cid).read(200)
        log = ScoreLog(var, cid)
        latest = log.latest()
        base = self.settings.public_url
        refused = [
            {k: r.get(k) for k in ("build_id", "finished", "error", "failed_gates")}
            for r in runs
            if r.get("outcome") == "refused"
        ][:20]
        return {
            "collection": cid,
            "title": self.resources.get(cid, {}).get("title", cid),
            "scores": latest["scores"] if latest else dict.fromkeys(SCORES),
            "today": latest["today"] if latest else None,
            "computed_at": latest["at"] if latest else None,
            "inputs": latest["inputs"] if latest else None,
            "history": [{"day": e["at"][:10], **e["scores"]} for e in log.daily(days)],
            "last_run": (
                {k: runs[0].get(k) for k in ("build_id", "finished", "outcome", "error")}
                if runs
                else None
            ),
            "refused": refused,
            "publishers": [
                self.publisher(cid, slug, days) for slug in ScoreLog.publishers(var, cid)
            ],
            "links": {
                "report": f"{base}/reports/{cid}",
                "reports": f"{base}/reports/{cid}/history",
                "history": f"{base}/collections/{cid}/history",
                "collection": f"{base}/collections/{cid}",
            },
        }

    def publisher(self, cid: str, slug: str, days: int = 90) -> dict[str, Any]:
        """Current scores and daily history of one publisher of a federated layer."""
        log = ScoreLog(self.settings.var_dir, cid, slug)
        latest = log.latest() or {}
        return {
            "collection": cid,
            "publisher": slug,
            "name": latest.get("name", slug),
            "scores": latest.get("scores") or dict.fromkeys(SCORES),
            "today": latest.get("today"),
            "computed_at": latest.get("at"),
            "inputs": latest.get("inputs"),
            "history": [{"day": e["at"][:10], **e["scores"]} for e in log.daily(days)],
            "links": {
                "report": f"{self.settings.public_url}/federation/{cid}/publishers/{slug}",
            },
        }

    def summary(self) -> dict[str, Any]:
        """Every layer, and the mean scores per publisher and over the catalogue.

        A publisher's mean covers the layers it publishes and its scores as a publisher of
        federated layers.
        """
        layers = [self.layer(cid) for cid in self.layers()]
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in layers:
            publisher = self.resources.get(item["collection"], {}).get("x-geopublish-publisher")
            if publisher:
                groups.setdefault(publisher, []).append(item)
            for one in item["publishers"]:
                groups.setdefault(one["name"], []).append(one)
        return {
            "rules": "https://github.com/geopublish/geopublish/blob/main/DESIGN.md#quality-scores",
            "catalogue": combine(layers),
            "publishers": {name: combine(items) for name, items in groups.items()},
            "layers": layers,
        }

    def index(self) -> Response:
        """``/quality``: every layer's scores (JSON)."""
        return _json(self.summary())

    def one(self, cid: str) -> Response:
        """``/quality/<id>``: one layer's scores and history (JSON)."""
        if cid not in self.layers():
            return _json({"code": "NotFound", "description": f"no layer {cid!r}"}, 404)
        return _json(self.layer(cid))

    def dashboard(self) -> Response:
        """The French dashboard: scores, charts, last runs, refused refreshes."""
        summary = self.summary()
        publishers = [p for layer in summary["layers"] for p in layer["publishers"]]
        history = {i["collection"]: i["history"] for i in summary["layers"]}
        history |= {f"{p['collection']}--{p['publisher']}": p["history"] for p in publishers}
        html = PAGE.render(
            layers=summary["layers"],
            publishers=publishers,
            catalogue=summary["catalogue"],
            labels=LABELS,
            outcomes=OUTCOMES,
            scores=SCORES,
            data=json.dumps(history, ensure_ascii=False).replace("</", "<\\/"),
        )
        return Response(html, mimetype="text/html")

    def decorate(self, response: Response) -> Response:
        """Add the ``quality`` block (current scores, link) to a collection document."""
        match = COLLECTION.match(request.path)
        if not match or response.status_code != 200 or response.direct_passthrough:
            return response
        if (
            response.mimetype not in (None, "application/json")
            or match["cid"] not in self.resources
        ):
            return response
        zipped = response.headers.get("Content-Encoding") == "gzip"
        try:
            raw = response.get_data()
            doc = json.loads(gzip.decompress(raw) if zipped else raw)
        except (ValueError, OSError):
            return response
        if not isinstance(doc, dict):
            return response
        cid = match["cid"]
        latest = ScoreLog(self.settings.var_dir, cid).latest()
        doc["quality"] = {
            "scores": latest["scores"] if latest else dict.fromkeys(SCORES),
            "computed_at": latest["at"] if latest else None,
            "href": f"{self.settings.public_url}/quality/{cid}",
        }
        slugs = ScoreLog.publishers(self.settings.var_dir, cid)
        if slugs:
            doc["quality"]["publishers"] = {
                one["publisher"]: {k: one[k] for k in ("name", "scores", "computed_at", "links")}
                for one in (self.publisher(cid, slug, days=1) for slug in slugs)
            }
        text = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        response.set_data(gzip.compress(text) if zipped else text)
        return response


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json")


def install(app: Flask, settings: Settings, config: dict[str, Any]) -> Quality:
    """Register the quality routes and the collection-document hook."""
    quality = Quality(settings, config)
    app.add_url_rule("/quality", "geopublish_quality", quality.index)
    app.add_url_rule("/quality/<cid>", "geopublish_quality_layer", quality.one)
    app.add_url_rule("/tableau-de-bord", "geopublish_dashboard", quality.dashboard)
    app.after_request(quality.decorate)
    return quality


PAGE = Environment(autoescape=select_autoescape(default=True)).from_string("""\
<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tableau de bord de la qualité des données</title>
<link rel="stylesheet" href="/assets/vendor/bootstrap/dist/css/bootstrap.min.css">
</head>
<body>
{% macro cell(v) %}{% set good = v is not none and v >= 0.9 %}
{% set bad = v is not none and v < 0.5 %}
<td class="{{ 'text-success' if good else 'text-danger' if bad else '' }}">
{{ "%.2f"|format(v) if v is not none else "–" }}</td>{% endmacro %}
<main class="container my-4">
<h1 class="h3">Qualité des couches publiées</h1>
<p class="text-secondary">Scores entre 0 et 1, lissés chaque jour (règles : disponibilité sur
24 h, fraîcheur selon la fréquence de mise à jour déclarée, conformité aux contrôles, validité
des géométries, complétude par rapport au référentiel).
<a href="/quality">Données au format JSON</a>.</p>
<table class="table table-sm align-middle" id="scores">
<thead><tr><th>Couche</th>{% for s in scores %}<th>{{ labels[s] }}</th>{% endfor %}
<th>Dernière exécution</th><th>Rapports</th></tr></thead>
<tbody>
<tr class="table-light"><th>Ensemble du catalogue</th>{% for s in scores %}
<td>{{ "%.2f"|format(catalogue[s]) if catalogue[s] is not none else "–" }}</td>{% endfor %}
<td></td><td></td></tr>
{% for layer in layers %}
<tr data-layer="{{ layer.collection }}">
<td><a href="{{ layer.links.collection }}">{{ layer.title }}</a>
<br><code>{{ layer.collection }}</code></td>
{% for s in scores %}{{ cell(layer.scores[s]) }}{% endfor %}
<td>{% if layer.last_run %}{{ outcomes.get(layer.last_run.outcome, layer.last_run.outcome) }}
<br><small>{{ layer.last_run.finished }}</small>{% else %}aucune{% endif %}</td>
<td><a href="{{ layer.links.report }}">dernier rapport</a> ·
<a href="{{ layer.links.reports }}">historique</a></td>
</tr>
{% endfor %}
</tbody>
</table>
<h2 class="h4 mt-4">Producteurs des couches fédérées</h2>
{% if publishers %}
<p class="text-secondary">Chaque producteur est noté sur son propre fichier : disponibilité
(fichier lu à chaque exécution, sur 24 h), fraîcheur selon sa propre fréquence déclarée,
conformité (contrôle de sa part de lignes valides), validité (part des lignes conformes au
schéma), complétude par rapport au référentiel déclaré.</p>
<table class="table table-sm align-middle" id="publishers">
<thead><tr><th>Producteur</th><th>Couche</th>{% for s in scores %}<th>{{ labels[s] }}</th>
{% endfor %}<th>Dernière lecture</th><th>Rapport</th></tr></thead>
<tbody>
{% for p in publishers %}
<tr data-publisher="{{ p.collection }}/{{ p.publisher }}">
<td>{{ p.name }}<br><code>{{ p.publisher }}</code></td><td><code>{{ p.collection }}</code></td>
{% for s in scores %}{{ cell(p.scores[s]) }}{% endfor %}
<td>{% set o = (p.inputs or {}).get("last_outcome") %}{{ outcomes.get(o, o or "aucune") }}
<br><small>{{ (p.inputs or {}).get("checked") or "" }}</small></td>
<td><a href="{{ p.links.report }}">rapport du producteur</a></td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}<p id="no-publishers">Aucune couche fédérée publiée.</p>{% endif %}
<h2 class="h4 mt-4">Mises à jour refusées</h2>
{% set ns = namespace(any=false) %}
<ul id="refused">
{% for layer in layers %}{% for r in layer.refused %}{% set ns.any = true %}
<li class="refused"><strong>{{ layer.title }}</strong> ({{ r.finished }}) :
{{ r.error or "refusée par les contrôles" }}
{% if r.failed_gates %}— contrôles en échec : {{ r.failed_gates|join(", ") }}{% endif %}
— <a href="{{ layer.links.reports }}">rapports</a></li>
{% endfor %}{% endfor %}
</ul>
{% if not ns.any %}<p id="no-refused">Aucune mise à jour refusée.</p>{% endif %}
<h2 class="h4 mt-4">Historique des scores</h2>
<div class="row">
{% for layer in layers %}
<div class="col-md-6 col-lg-4 mb-3"><div class="card"><div class="card-body">
<h3 class="h6">{{ layer.title }}</h3>
<canvas id="chart-{{ layer.collection }}" width="400" height="220"
 aria-label="Historique des scores de {{ layer.title }}"></canvas>
</div></div></div>
{% endfor %}
{% for p in publishers %}
<div class="col-md-6 col-lg-4 mb-3"><div class="card"><div class="card-body">
<h3 class="h6">{{ p.name }} <small class="text-secondary">({{ p.collection }})</small></h3>
<canvas id="chart-{{ p.collection }}--{{ p.publisher }}" width="400" height="220"
 aria-label="Historique des scores de {{ p.name }}"></canvas>
</div></div></div>
{% endfor %}
</div>
</main>
<script src="/assets/vendor/chart.js/dist/chart.umd.js"></script>
<script id="history" type="application/json">{{ data|safe }}</script>
<script>
const history = JSON.parse(document.getElementById("history").textContent);
const labels = {{ labels|tojson }};
const colours = ["#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#d63384"];
window.chartsDrawn = 0;
for (const [cid, days] of Object.entries(history)) {
  const canvas = document.getElementById("chart-" + cid);
  if (!canvas || typeof Chart === "undefined") continue;
  new Chart(canvas, {
    type: "line",
    data: {
      labels: days.map(d => d.day),
      datasets: Object.keys(labels).map((key, i) => ({
        label: labels[key], data: days.map(d => d[key]), borderColor: colours[i],
        backgroundColor: colours[i], spanGaps: true, pointRadius: 3,
      })),
    },
    options: {animation: false, responsive: false, scales: {y: {min: 0, max: 1}}},
  });
  window.chartsDrawn += 1;
}
</script>
</body>
</html>
""")
