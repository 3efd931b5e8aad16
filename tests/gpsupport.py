"""Helpers shared by the tests: the real CLI, a real server, free ports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(var_dir: Path, data: Path, **extra: str) -> dict[str, str]:
    """Environment for running the real CLI against a private var/ folder."""
    env = dict(os.environ)
    env.update(
        GEOPUBLISH_PROJECT_DIR=str(REPO),
        GEOPUBLISH_VAR_DIR=str(var_dir),
        GEOPUBLISH_SOURCE_ROOT=str(data),
        GEOPUBLISH_SOURCE_MODE="local",
        # Tests write hostile and generated inputs under the temporary folder: an explicit
        # widening of the source root (tests/source/test_containment.py runs without it).
        GEOPUBLISH_SOURCE_ALLOW=tempfile.gettempdir(),
        GEOPUBLISH_PYGEOAPI_CONFIG=str(var_dir / "pygeoapi-config.yml"),
        GEOPUBLISH_OPENAPI=str(var_dir / "openapi.yml"),
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 600, limit: int | None = None):
    """Run ``python -m geopublish ARGS`` and return the CompletedProcess.

    ``limit``: the child's address space capped at that many bytes.
    """
    import resource
    import subprocess
    import sys

    def cap() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "geopublish", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap if limit is not None else None,
    )


def layer_spec(*parts: dict, geometry: str = "Point", **extra: object) -> dict:
    """A minimal valid layer spec over ``parts`` (features keyed by ``code``), plus ``extra``."""
    return {
        "title": "t",
        "description": "t",
        "licence": {"name": "Licence Ouverte 2.0"},
        "attribution": "test",
        "source": {"parts": list(parts)},
        "feature_id": {"fields": ["code"]},
        "geometry": {"type": geometry, "promote_to_multi": False}
        if geometry == "Point"
        else {"type": geometry},
        **extra,
    }


def run_limited(env: dict[str, str], *args: str, limit: int, timeout: float = 300):
    """The real CLI with its address space capped at ``limit`` bytes."""
    return run_cli(env, *args, timeout=timeout, limit=limit)


class Server:
    """A real `geopublish serve` (gunicorn + pygeoapi) on a free port."""

    def __init__(self, env: dict[str, str], workers: int = 2, tree: Path = REPO) -> None:
        """Serve ``env``'s var folder with the geopublish of ``tree`` (this one by default)."""
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Later CLI runs with this env then generate the same config (same URLs): no flip-flop.
        env["GEOPUBLISH_PORT"] = str(self.port)
        self.env = env
        self.log = open(Path(env["GEOPUBLISH_VAR_DIR"]) / f"server-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "geopublish",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env={**env, "PYTHONPATH": str(tree)},
            cwd=tree,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        import time

        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/conformance?f=json", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not answer in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
        self.log.close()
