"""Build several collections in dependency order, then publish the API configuration."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geopublish.catalog import Catalog
from geopublish.errors import GeopublishError, ValidationFailed
from geopublish.pipeline.run import error_line, run_collection
from geopublish.publish import build_config, cleanup, render_config, write_config
from geopublish.publish.catalogue import write_catalogue
from geopublish.serve import loaded
from geopublish.settings import Settings
from geopublish.store import Stores

LOG = logging.getLogger("geopublish.pipeline")
ProgressFactory = Callable[
    [str], tuple[Callable[[int], None], Callable[[int], None], Callable[[], None]]
]


@dataclass
class Outcome:
    """What happened to each collection of a run."""

    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No collection failed or was refused."""
        return not self.errors


def no_progress(
    cid: str,
) -> tuple[Callable[[int], None], Callable[[int], None], Callable[[], None]]:
    """Progress callbacks that do nothing."""
    return (lambda n: None), (lambda n: None), (lambda: None)


def build_many(
    catalog: Catalog,
    settings: Settings,
    stores: Stores,
    ids: tuple[str, ...] = (),
    *,
    force: bool = False,
    trigger: str = "manual",
    skip_unchanged: bool = False,
    progress: ProgressFactory = no_progress,
) -> Outcome:
    """Build the selected collections; a failure in one does not stop the others.

    With ``skip_unchanged`` a collection whose inputs did not change is not rebuilt. An
    upstream pulled in only because a selected layer derives from it is always built that
    way: building a derived layer never republishes an unchanged upstream as a new version.
    """
    outcome = Outcome()
    requested = set(ids)
    for spec in catalog.select(ids):
        failed_parent = next(
            (d for d in catalog.dependencies(spec.cid) if d in outcome.errors), None
        )
        if failed_parent and stores.current(catalog.specs[failed_parent]) is None:
            outcome.errors[spec.cid] = (
                f"collection {spec.cid!r}: not built because {failed_parent!r} failed"
            )
            continue
        step, total, done = progress(spec.cid)
        try:
            outcome.reports[spec.cid] = run_collection(
                spec,
                settings,
                stores,
                catalog,
                force=force,
                trigger=trigger,
                skip_unchanged=skip_unchanged or bool(requested and spec.cid not in requested),
                progress=step,
                on_total=total,
            )
        except (GeopublishError, ValidationFailed) as exc:
            outcome.errors[spec.cid] = str(exc)
        except Exception as exc:  # a bug in one layer must not stop the others
            # One line for the user; the traceback for whoever debugs it (-vv).
            LOG.debug("%s: unexpected error", spec.cid, exc_info=True)
            outcome.errors[spec.cid] = error_line(spec.cid, exc)
        finally:
            done()
    return outcome


def publish_api(catalog: Catalog, settings: Settings, stores: Stores) -> int:
    """Regenerate pygeoapi-config.yml and the OpenAPI; ask a running server to reload.

    When the configuration is the one already written (a refresh that only swapped data:
    the provider follows the ``current`` link by itself) nothing is written; the server is
    still asked to reload when the configuration it reports having loaded is not the one on
    disk (a run killed between writing the file and signalling the server).
    """
    specs = catalog.select()
    layers = {s.cid: layer for s in specs if (layer := stores.current(s)) is not None}
    config = build_config(specs, layers, settings)
    _keep_invalid(config, catalog.invalid, settings)
    cleanup(settings)
    if _written(settings) != render_config(config) or not settings.openapi.is_file():
        write_config(config, settings)
    write_catalogue(specs, layers, settings, {"metadata": config["metadata"]})
    if loaded.loaded(settings.var_dir) != loaded.digest(settings.pygeoapi_config):
        reload_server(settings)
    return len(config["resources"])


def _keep_invalid(config: dict, invalid: set[str], settings: Settings) -> None:
    """A layer whose spec turned invalid stays served as it was configured before."""
    if not invalid:
        return
    try:
        before = yaml.safe_load(_written(settings) or "") or {}
    except yaml.YAMLError:
        return
    old = before.get("resources") or {}
    for cid in sorted(invalid):
        if cid in old and cid not in config["resources"]:
            config["resources"][cid] = old[cid]


def _written(settings: Settings) -> str | None:
    try:
        return settings.pygeoapi_config.read_text(encoding="utf-8")
    except OSError:
        return None


def reload_server(settings: Settings) -> bool:
    """Send SIGHUP to a running `geopublish serve` (graceful worker reload)."""
    pidfile = settings.var_dir / "gunicorn.pid"
    try:
        pid = int(pidfile.read_text().strip())
        # a stale pid file must not signal whatever process took that pid since
        if b"geopublish" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    LOG.info("asked the server (pid %d) to reload its configuration", pid)
    return True
