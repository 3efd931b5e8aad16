"""Run the WSGI app under gunicorn: worker processes with threads, graceful reload on SIGHUP."""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication

from geopublish.settings import Settings


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
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "pidfile": pidfile,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    Server(settings, options).run()
