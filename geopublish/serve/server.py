"""Run the WSGI app under gunicorn: worker processes with threads, graceful reload on SIGHUP."""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from geopublish.settings import Settings

THREADS = 4
ACCEPT_YIELD = 0.002  # seconds a busy worker waits before taking a new connection


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker that leaves new connections to a less busy sibling.

    All workers wait on the same listening socket and the first to call ``accept`` wins, so a
    burst of keep-alive connections (a browser, a load balancer's pool, a benchmark) can land
    on one worker while the other idles, halving throughput for as long as they stay open
    (measured: all 8 of wrk's connections on one worker in 2 runs out of 8). A worker already
    holding one connection per thread waits a moment before accepting; an idle sibling, woken
    by the same event, takes the connection meanwhile. When every worker is busy, the
    connection is accepted after the wait.
    """

    def accept(self, listener: Any) -> None:
        """Accept a new connection, after a short wait when this worker is busy."""
        busy = self.nr_conns // self.cfg.threads
        if busy:
            time.sleep(min(ACCEPT_YIELD * busy, 0.01))
        super().accept(listener)


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from geopublish settings; the app is imported in each worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply the options gunicorn knows."""
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        """Import the app (and so read pygeoapi-config.yml) in the worker."""
        from geopublish.serve.app import app

        # The modules just imported are hundreds of thousands of long-lived objects: frozen,
        # the collector's full passes no longer walk them (a full pass over them took 100+ ms
        # on a loaded machine, the tail of a tile request's latency).
        gc.collect()
        gc.freeze()
        return app


def environment(settings: Settings) -> dict[str, str]:
    """Variables the workers need to find the config, the OpenAPI and the store."""
    return {
        "PYGEOAPI_CONFIG": str(settings.pygeoapi_config),
        "PYGEOAPI_OPENAPI": str(settings.openapi),
        "GEOPUBLISH_PROJECT_DIR": str(settings.project_dir),
        "GEOPUBLISH_VAR_DIR": str(settings.var_dir),
        "GEOPUBLISH_PYGEOAPI_CONFIG": str(settings.pygeoapi_config),
        "GEOPUBLISH_OPENAPI": str(settings.openapi),
    }


def serve(settings: Settings, *, pidfile: str | None = None) -> None:
    """Serve until stopped; SIGHUP re-reads the configuration in fresh workers."""
    os.environ.update(environment(settings))
    os.chdir(settings.project_dir)  # store paths in the generated config are relative to it
    options = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": f"{__name__}.BalancedThreadWorker",
        "threads": THREADS,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "pidfile": pidfile,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    Server(settings, options).run()
