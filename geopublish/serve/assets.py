"""Front-end libraries served by the service itself, so pages work with no internet.

The libraries are installed from the npm registry at install time (``assets/package.json``,
``npm ci``) and served from ``assets/node_modules`` under ``/assets/vendor/<package>/<file>``.
Only the packages listed in ``package.json`` and static file types are served; the resolved
path must stay inside the package folder (no ``..``, no symlink out).
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask, Response, abort, send_file

PREFIX = "/assets/vendor"
TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".map": "application/json",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
}


def vendored(assets_dir: Path) -> dict[str, Path]:
    """Each declared package and its installed folder (those actually installed)."""
    try:
        declared = json.loads((assets_dir / "package.json").read_text())["dependencies"]
    except (OSError, ValueError, KeyError):
        return {}
    modules = assets_dir / "node_modules"
    return {name: modules / name for name in declared if (modules / name).is_dir()}


def url(package: str, file: str) -> str:
    """The path a page links to for one file of a vendored package."""
    return f"{PREFIX}/{package}/{file}"


def install(app: Flask, assets_dir: Path, cache_control: str = "public, max-age=86400") -> None:
    """Add ``/assets/vendor/<package>/<file>`` to ``app``."""
    packages = vendored(assets_dir)

    @app.get(PREFIX + "/<package>/<path:file>")
    def vendor_asset(package: str, file: str) -> Response:
        root = packages.get(package)
        kind = TYPES.get(Path(file).suffix.lower())
        if root is None or kind is None:
            abort(404)
        path = (root / file).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            abort(404)
        response = send_file(path, mimetype=kind, conditional=True, max_age=None)
        response.headers["Cache-Control"] = cache_control
        return response
