"""CloudEvents notifications: signed, one per publication, refusal and rollback; never waiting."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from gpsupport import free_port, run_cli

from geopublish.ledger.webhook import SIGNATURE, Notifier, deliveries

SECRET = "s3cret-for-tests"


class Receiver:
    """A real HTTP server that keeps every POST it gets."""

    def __init__(self, port: int = 0) -> None:
        got: list[tuple[dict, bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.got = got
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        out = []
        for headers, body in self.got:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers[SIGNATURE] == expected
            assert headers["Content-Type"].startswith("application/cloudevents+json")
            out.append(json.loads(body))
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    return check()


def test_unreachable_webhook_delays_nothing_and_is_retried(tmp_path):
    port = free_port()
    notifier = Notifier(tmp_path, [f"http://127.0.0.1:{port}/hook"], SECRET, base_delay=0.3)
    started = time.monotonic()
    event_id = notifier.emit("published", "http://x/collections/a", "a", {"version": 3})
    assert time.monotonic() - started < 0.1  # queued, not sent
    assert wait_for(lambda: deliveries(tmp_path, "a"))[0]["delivered"] is False
    receiver = Receiver(port)  # the webhook comes back: the retry gets through
    try:
        done = wait_for(lambda: [d for d in deliveries(tmp_path, "a") if d["delivered"]])
        assert done and done[0]["attempt"] >= 2 and done[0]["event"] == event_id
        (event,) = receiver.events()
        assert event["specversion"] == "1.0" and event["id"] == event_id
        assert event["type"] == "fr.geopublish.layer.published" and event["data"]["version"] == 3
        assert not list((tmp_path / "outbox").glob("*.json"))  # delivered: out of the outbox
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def hooked(pg_site):
    receiver = Receiver()
    env = {**pg_site["env"], "GEOPUBLISH_WEBHOOK_URL": receiver.url}
    env["GEOPUBLISH_WEBHOOK_SECRET"] = SECRET
    yield {**pg_site, "env": env, "receiver": receiver}
    receiver.stop()


def listing(site) -> dict:
    return requests.get(f"{site['url']}/downloads/parks_montpellier", timeout=30).json()


def test_one_signed_event_per_publication_refusal_and_rollback(hooked):
    receiver, env, cid = hooked["receiver"], hooked["env"], "parks_montpellier"
    before = listing(hooked)["build_id"]
    result = run_cli(env, "build", "--force", cid)
    assert result.returncode == 0, result.stderr
    published = listing(hooked)
    assert published["build_id"] != before  # new downloads swapped in with the new version

    path = hooked["root"] / "collections/environment/parks_montpellier.yml"
    original = path.read_text()
    spec = yaml.safe_load(original)
    spec["checks"]["min_features"] = 100_000
    spec["description"] += " (contrôle strict)"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    try:
        run_cli(env, "refresh", cid)
    finally:
        path.write_text(original)
    assert listing(hooked)["build_id"] == published["build_id"]  # a refusal changes nothing

    versions = requests.get(f"{hooked['url']}/collections/{cid}?f=json", timeout=30).json()
    result = run_cli(env, "rollback", cid)
    assert result.returncode == 0, result.stderr
    assert listing(hooked)["build_id"] == before  # the old version's downloads come back
    assert versions["geopublish"]["build_id"] == published["build_id"]

    events = wait_for(lambda: len(receiver.events()) >= 3 and receiver.events())
    kinds = [e["type"].rsplit(".", 1)[1] for e in events]
    assert kinds == ["published", "refused", "rollback"]
    assert all(e["subject"] == cid and e["source"].endswith(f"/collections/{cid}") for e in events)
    assert events[0]["data"]["build_id"] == published["build_id"]
    assert "min_features" in events[1]["data"]["failed_gates"]
    recorded = deliveries(hooked["var"], cid)
    assert [d["type"].rsplit(".", 1)[1] for d in recorded if d["delivered"]] == kinds
