"""Feedback for the publishers of federated layers, and the layer in its schema's CSV.

Stable URLs, read from ``var/federation/<layer>/`` at each request:

* ``/federation/<layer>/publishers`` — every publisher: last update, outcome, share valid;
* ``/federation/<layer>/publishers/<slug>`` — rows read / valid / quarantined by reason and
  the trend over runs (``?f=json`` or an HTML page in French);
* ``/federation/<layer>/publishers/<slug>/quarantine`` — the quarantined rows and reasons;
* ``/federation/<layer>/download.csv`` — the served version in the schema's own layout.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request, send_file
from markupsafe import escape

from geopublish.serve import assets
from geopublish.serve.published import served_layer
from geopublish.settings import Settings

SAFE = re.compile(r"^[a-z][a-z0-9_]*$")
OUTCOMES_FR = {
    "published": "publié",
    "unchanged": "inchangé",
    "refused": "refusé (dernières lignes valides conservées)",
    "failed": "en échec (dernières lignes valides conservées)",
}


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _history(path: Path, limit: int = 50) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _json(data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")


def _page(title: str, body: str) -> Response:
    css = assets.url("bootstrap", "dist/css/bootstrap.min.css")
    html = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="{css}"></head>'
        f'<body><main class="container py-4"><h1 class="h3">{escape(title)}</h1>{body}'
        "</main></body></html>"
    )
    return Response(html, mimetype="text/html")


def _table(head: list[str], rows: list[list[Any]], css: str = "") -> str:
    th = "".join(f"<th scope=col>{escape(h)}</th>" for h in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<table class="table table-sm {css}"><thead><tr>{th}</tr></thead>'
        f"<tbody>{trs}</tbody></table>"
    )


class Federation:
    """The routes, bound to the settings and pygeoapi's configuration."""

    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        self.settings = settings
        self.config = config

    def _home(self, cid: str, slug: str | None = None) -> Path:
        if not SAFE.match(cid) or (slug is not None and not SAFE.match(slug)):
            abort(404)
        home = self.settings.var_dir / "federation" / cid
        home = home / slug if slug else home
        if not home.is_dir():
            abort(404)
        return home

    def publisher_report(self, cid: str, slug: str) -> dict[str, Any]:
        """The JSON report of one publisher."""
        home = self._home(cid, slug)
        state = _read(home / "state.json") or {}
        layer = _read(home.parent / "layer.json") or {}
        info = (layer.get("publishers") or {}).get(slug, {})
        base = f"{self.settings.public_url}/federation/{cid}/publishers/{slug}"
        trend = [
            {
                k: h.get(k)
                for k in (
                    "at",
                    "outcome",
                    "read",
                    "valid",
                    "quarantined",
                    "share_valid",
                    "error",
                    "kept",
                )
            }  # fmt: skip
            for h in _history(home / "history.jsonl")
        ]
        return {
            "layer": cid, "publisher": slug, "name": info.get("name"),
            "outcome": state.get("outcome"), "updated": state.get("at"),
            "checked": state.get("checked"),
            "error": state.get("error"), "summary": state.get("summary") or {},
            "trend": trend, "links": {"quarantine": f"{base}/quarantine", "self": base},
        }  # fmt: skip

    def registry(self, cid: str) -> Response:
        """Every publisher of a layer."""
        home = self._home(cid)
        layer = _read(home / "layer.json") or {}
        items = []
        for slug in sorted(p.name for p in home.iterdir() if (p / "state.json").is_file()):
            report = self.publisher_report(cid, slug)
            summary = report["summary"]
            items.append({
                "publisher": slug, "name": report["name"], "outcome": report["outcome"],
                "updated": report["updated"], "share_valid": summary.get("share_valid"),
                "read": summary.get("read"), "valid": summary.get("valid"),
                "report": report["links"]["self"],
            })  # fmt: skip
        doc = {"layer": cid, "schema": layer.get("schema"), "publishers": items,
               "duplicates": layer.get("duplicates", []),
               "collisions": layer.get("collisions", [])}  # fmt: skip
        if request.args.get("f") == "json":
            return _json(doc)
        rows = [
            [i["name"] or i["publisher"], i["updated"] or "—",
             OUTCOMES_FR.get(i["outcome"] or "", i["outcome"] or "—"),
             "—" if i["share_valid"] is None else f"{i['share_valid']:.0%}"]
            for i in items
        ]  # fmt: skip
        links = "".join(
            f'<li><a href="{escape(i["report"])}">{escape(i["name"] or i["publisher"])}</a></li>'
            for i in items
        )
        body = (
            f"<p>Schéma : {escape(str(doc['schema']))}. Doublons entre éditeurs écartés : "
            f"{len(doc['duplicates'])} ; identifiants en collision : {len(doc['collisions'])}.</p>"
            + _table(["Éditeur", "Dernière mise à jour", "Résultat", "Lignes valides"], rows)
            + f"<ul>{links}</ul>"
        )
        return _page(f"Éditeurs de la couche {cid}", body)

    def publisher(self, cid: str, slug: str) -> Response:
        """One publisher's report (JSON or a French HTML page)."""
        report = self.publisher_report(cid, slug)
        if request.args.get("f") == "json":
            return _json(report)
        s = report["summary"]
        share = s.get("share_valid")
        lines = [
            ["Lignes lues", s.get("read", "—")],
            ["Lignes valides (publiées)", s.get("valid", "—")],
            ["Lignes en quarantaine", s.get("quarantined", "—")],
            ["Part de lignes valides", "—" if share is None else f"{share:.1%}"],
        ]
        reasons = [[*k.split(":", 1), n] for k, n in (s.get("by_reason") or {}).items()]
        trend = [
            [t["at"], OUTCOMES_FR.get(t["outcome"] or "", t["outcome"]),
             "—" if t.get("share_valid") is None else f"{t['share_valid']:.1%}",
             t.get("error") or ""]
            for t in reversed(report["trend"])
        ]  # fmt: skip
        outcome = OUTCOMES_FR.get(report["outcome"] or "", report["outcome"] or "—")
        error = (
            f'<div class="alert alert-warning" role="alert">{escape(report["error"])}</div>'
            if report.get("error")
            else ""
        )
        body = (
            f"<p>Éditeur : <strong>{escape(report['name'] or slug)}</strong>. Dernier "
            f"passage : {escape(report['updated'] or '—')}, résultat : {escape(outcome)}.</p>"
            + error
            + _table(["Indicateur", "Valeur"], lines)
            + "<h2 class=h5>Lignes en quarantaine par motif</h2>"
            + _table(["Champ", "Règle", "Lignes"], reasons, "quarantine-reasons")
            + f'<p><a href="{escape(report["links"]["quarantine"])}">Lignes en quarantaine '
            "(détail par ligne, JSON)</a></p>"
            + "<h2 class=h5>Évolution</h2>"
            + _table(["Date", "Résultat", "Lignes valides", "Erreur"], trend, "trend")
        )
        return _page(f"Rapport de publication : {report['name'] or slug}", body)

    def quarantine(self, cid: str, slug: str) -> Response:
        """Rows refused at the last validation, each with its reasons (field, value, rule)."""
        home = self._home(cid, slug)
        return _json({"layer": cid, "publisher": slug,
                      "rows": _read(home / "quarantine.json") or []})  # fmt: skip

    def download(self, cid: str) -> Response:
        """The served version of the layer as a CSV in the schema's layout."""
        resource = (self.config.get("resources") or {}).get(cid)
        layer = served_layer(resource) if resource else None
        if layer is None:
            abort(404)
        path = self._home(cid) / "downloads" / f"{layer.build_id}.csv"
        if not path.is_file():
            abort(404)
        return send_file(path, mimetype="text/csv", as_attachment=True,
                         download_name=f"{cid}.csv", conditional=True,
                         etag=layer.build_id)  # fmt: skip


def install(app: Flask, settings: Settings, config: dict[str, Any]) -> None:
    """Add the federation routes to ``app``."""
    fed = Federation(settings, config)
    app.add_url_rule("/federation/<cid>/publishers", "federation_registry", fed.registry)
    app.add_url_rule("/federation/<cid>/publishers/<slug>", "federation_publisher", fed.publisher)
    app.add_url_rule(
        "/federation/<cid>/publishers/<slug>/quarantine", "federation_quarantine",
        fed.quarantine,
    )  # fmt: skip
    app.add_url_rule("/federation/<cid>/download.csv", "federation_download", fed.download)
