"""Edit a JSON response body after pygeoapi wrote it (gzip or not)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request


def rewrite_json(response: Response, change: Callable[[dict[str, Any]], None]) -> Response:
    """Apply ``change`` to the decoded body, then encode it as it came (gzipped or not)."""
    zipped = response.headers.get("Content-Encoding") == "gzip"
    raw = response.get_data()
    body = json.loads(gzip.decompress(raw) if zipped else raw)
    change(body)
    text = json.dumps(body).encode("utf-8")
    response.set_data(gzip.compress(text) if zipped else text)
    return response


def install_json_hook(
    app: Flask,
    path: re.Pattern[str],
    change_for: Callable[[str], Callable[[dict[str, Any]], None] | None],
) -> None:
    """After each 200 JSON response on ``path`` (group 1: collection id), apply its change."""

    @app.after_request
    def _rewrite(response: Response) -> Response:
        match = path.match(request.path)
        if not match or response.status_code != 200 or "json" not in response.content_type:
            return response
        change = change_for(match.group(1))
        return response if change is None else rewrite_json(response, change)
