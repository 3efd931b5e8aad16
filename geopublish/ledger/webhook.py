"""Notifications: each publication, refusal, failure and rollback as a CloudEvents 1.0 event.

:meth:`Notifier.emit` writes the event to the outbox (``var/outbox/<id>.json``) and returns at
once; a background thread POSTs it (structured mode, ``application/cloudevents+json``) to
every configured webhook, signed with HMAC-SHA256 over the body
(``X-Geopublish-Signature: sha256=<hex>``, the secret from ``GEOPUBLISH_WEBHOOK_SECRET``).
A failed delivery is retried with exponential backoff (1 s, 2 s, 4 s… at most
:data:`MAX_DELAY`) up to :data:`MAX_ATTEMPTS`; an event still in the outbox when its process
ends is retried by the next process that notifies (a build, the scheduler). Every attempt is
recorded in ``var/history/<id>/deliveries.jsonl`` (bounded). A build never waits for a
webhook: at exit a process gives in-flight deliveries at most :data:`EXIT_GRACE` seconds.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from geopublish.ledger.files import read_json, write_json

LOG = logging.getLogger("geopublish.ledger")
SIGNATURE = "X-Geopublish-Signature"
MAX_ATTEMPTS = 8
MAX_DELAY = 300.0
EXIT_GRACE = 2.0
KEEP_DELIVERIES = 500
TYPES = {"published", "refused", "failed", "rollback"}


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a body: ``sha256=`` and the HMAC's hex digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def cloud_event(kind: str, source: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured JSON form."""
    if kind not in TYPES:
        raise ValueError(f"event type {kind!r}: expected one of {sorted(TYPES)}")
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": f"fr.geopublish.layer.{kind}",
        "subject": subject,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "data": data,
    }


class Notifier:
    """The outbox of one deployment and the thread that delivers it."""

    def __init__(
        self,
        var_dir: Path,
        urls: list[str],
        secret: str | None,
        *,
        timeout: float = 10.0,
        base_delay: float = 1.0,
    ) -> None:
        self.var_dir = var_dir
        self.outbox = var_dir / "outbox"
        self.urls = urls
        self.secret = secret
        self.timeout = timeout
        self.base_delay = base_delay
        self.queue: queue.Queue[str] = queue.Queue()
        self.busy = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="geopublish-webhooks", daemon=True)
        self.thread.start()
        for path in sorted(self.outbox.glob("*.json")) if self.outbox.is_dir() else []:
            self.queue.put(path.stem)  # left by an earlier process

    def emit(self, kind: str, source: str, subject: str, data: dict[str, Any]) -> str | None:
        """Queue one event for every webhook; returns its id at once (None without webhooks)."""
        if not self.urls:
            return None
        event = cloud_event(kind, source, subject, data)
        entry = {"event": event, "pending": list(self.urls), "attempts": 0, "next": 0.0}
        write_json(self.outbox / f"{event['id']}.json", entry)
        self.queue.put(event["id"])
        return str(event["id"])

    def drain(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the queue to empty; whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0 and not self.busy.is_set():
                return True
            time.sleep(0.02)
        return False

    def _loop(self) -> None:
        waiting: dict[str, float] = {}
        while not self.stop.is_set():
            try:
                event_id = self.queue.get(timeout=0.2)
            except queue.Empty:
                event_id = None
            now = time.monotonic()
            due = [e for e, t in waiting.items() if t <= now]
            if event_id is not None:
                due.append(event_id)
            for eid in due:
                waiting.pop(eid, None)
                self.busy.set()
                try:
                    retry = self._deliver(eid)
                except Exception as exc:  # a broken outbox file must not stop the thread
                    LOG.warning("webhook event %s: %s", eid, exc)
                    retry = None
                finally:
                    self.busy.clear()
                if retry is not None:
                    waiting[eid] = time.monotonic() + retry
            if event_id is not None:
                self.queue.task_done()

    def _deliver(self, event_id: str) -> float | None:
        """Try every pending webhook once; the delay before a retry, or None when done."""
        path = self.outbox / f"{event_id}.json"
        entry = read_json(path)
        if not isinstance(entry, dict):
            return None
        event = entry["event"]
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
        if self.secret:
            headers[SIGNATURE] = sign(self.secret, body)
        entry["attempts"] += 1
        still = []
        for url in entry["pending"]:
            status: int | None = None
            error = None
            try:
                response = requests.post(url, data=body, headers=headers, timeout=self.timeout)
                status = response.status_code
                ok = 200 <= status < 300
            except requests.RequestException as exc:
                ok, error = False, str(exc)[:200]
            self._record(event, url, entry["attempts"], ok, status, error)
            if not ok:
                still.append(url)
        entry["pending"] = still
        if not still or entry["attempts"] >= MAX_ATTEMPTS:
            if still:
                LOG.warning("webhook event %s: giving up after %d attempts", event_id, MAX_ATTEMPTS)
            path.unlink(missing_ok=True)
            return None
        write_json(path, entry)
        return min(MAX_DELAY, self.base_delay * 2 ** (entry["attempts"] - 1))

    def _record(
        self,
        event: dict[str, Any],
        url: str,
        attempt: int,
        ok: bool,
        status: int | None,
        error: str | None,
    ) -> None:
        line = {
            "event": event["id"],
            "type": event["type"],
            "url": url,
            "attempt": attempt,
            "delivered": ok,
            "status": status,
            "error": error,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = self.var_dir / "history" / str(event["subject"]) / "deliveries.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()[-(KEEP_DELIVERIES - 1) :]
        except OSError:
            lines = []
        lines.append(json.dumps(line))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def deliveries(var_dir: Path, collection: str) -> list[dict[str, Any]]:
    """Recorded delivery attempts of a collection's events, oldest first."""
    path = var_dir / "history" / collection / "deliveries.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


_NOTIFIERS: dict[tuple[str, tuple[str, ...], str | None], Notifier] = {}
_LOCK = threading.Lock()


def notifier(var_dir: Path, urls: str | None, secret: str | None) -> Notifier:
    """The process's notifier for these webhooks (``urls``: comma- or space-separated)."""
    listed = tuple(u for u in (urls or "").replace(",", " ").split() if u)
    key = (str(var_dir), listed, secret)
    with _LOCK:
        found = _NOTIFIERS.get(key)
        if found is None:
            found = _NOTIFIERS[key] = Notifier(var_dir, list(listed), secret)
            atexit.register(found.drain, EXIT_GRACE)
        return found
