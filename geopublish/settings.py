"""Deployment settings, read from ``GEOPUBLISH_*`` environment variables.

Nothing is built at import time: call :func:`get_settings` and pass the result down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVED_URL_FILE = "served-url.json"


class Settings(BaseSettings):
    """Where specs, sources, the store and the generated pygeoapi files live."""

    model_config = SettingsConfigDict(env_prefix="GEOPUBLISH_", extra="ignore")

    project_dir: Path = Field(
        default_factory=Path.cwd,
        description="Project root; relative paths below are resolved against it.",
    )
    collections_dir: Path = Field(Path("collections"), description="Folder of layer specs.")
    config_dir: Path = Field(Path("config"), description="Service metadata and defaults.")
    var_dir: Path = Field(Path("var"), description="Store, reports, history and locks.")
    source_root: Path = Field(
        Path("../shared/data"),
        description="Local mirror of the producers' files; a part's `path` is looked up here.",
    )
    source_allow: str = Field(
        "",
        description="Extra folders (separated by ':') that local reads may resolve into, "
        "beside source_root. Every part, pattern match and reference is resolved (symlinks "
        "and '..' included) and refused outside these; empty: the source root only.",
    )
    source_mode: Literal["auto", "local", "remote"] = Field(
        "auto",
        description="auto: local mirror if the file is there, else the producer's URL; "
        "local: never touch the network; remote: always the URL.",
    )
    http_timeout: float = Field(60.0, description="Seconds before an HTTP source fails.")
    store: Literal["gpkg", "postgis"] = Field("gpkg", description="Where layers are stored.")
    postgis_dsn: str | None = Field(
        None, description="libpq DSN for the PostGIS store; from the environment, never a file."
    )
    postgis_schema: str = Field(
        "geopublish", description="PostgreSQL schema holding this deployment's layers."
    )
    pygeoapi_config: Path = Field(Path("pygeoapi-config.yml"), description="Generated config.")
    openapi: Path = Field(Path("var/openapi.yml"), description="Generated OpenAPI document.")
    base_url: str | None = Field(
        None,
        description="Public URL of the API; defaults to http://HOST:PORT. `serve` and `up` "
        "record the URL, host and port they serve on in var/served-url.json; later runs "
        "(build, refresh, publish) use them unless set here or on the command line.",
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(5000, description="Port to bind.")
    workers: int = Field(2, description="gunicorn worker processes.")
    batch_size: int = Field(
        5_000,
        description="Features per build batch; the four build stages hold one batch each.",
    )
    downloads_child_from: int = Field(
        50_000,
        ge=0,
        description="Features from which a layer's downloads are written by a fresh child "
        "process, after the build's own memory peak (0: always); below, in the build "
        "process, where a child's start-up would cost more than the memory it saves.",
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="Threads per vectorised geometry step of a build (read by "
        "geopublish.parallel; default: the usable cores, at most 4; 1 = none).",
    )
    keep_versions: int = Field(5, description="Published versions kept per layer for rollback.")
    federation_incremental: bool = Field(
        True,
        description="Refresh a federated layer by replacing only the changed publishers' rows "
        "in a copy of the served version (false: rewrite the whole layer every time).",
    )
    webhook_url: str | None = Field(
        None,
        description="Webhooks (comma-separated) POSTed a CloudEvents 1.0 event at each "
        "publication, refusal, failure and rollback.",
    )
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key signing each event (X-Geopublish-Signature)."
    )
    watch_interval: float = Field(
        10.0, description="Seconds between the scheduler's checks for new or edited specs."
    )
    cache_control: str = Field(
        "public, max-age=60",
        description="Cache-Control sent with collection responses (empty: none); ETag and "
        "Last-Modified always let clients revalidate cheaply.",
    )

    privacy_key: SecretStr | None = Field(
        None,
        description="Key of the privacy treatment (pseudonyms, displacements); from the "
        "environment only, never written or logged. Prefer privacy_key_file.",
    )
    privacy_key_file: Path | None = Field(
        None, description="File holding the privacy key (e.g. a mounted secret)."
    )

    def privacy_secret(self) -> bytes | None:
        """The privacy key's bytes (the file wins over the variable), or None if unset."""
        if self.privacy_key_file is not None:
            try:
                key = self.privacy_key_file.read_bytes().strip()
            except OSError as exc:
                raise ValueError(
                    f"GEOPUBLISH_PRIVACY_KEY_FILE {str(self.privacy_key_file)!r} cannot be "
                    f"read: {exc.strerror}"
                ) from None
        elif self.privacy_key is not None:
            key = self.privacy_key.get_secret_value().encode()
        else:
            return None
        if len(key) < 16:
            raise ValueError("the privacy key must hold at least 16 bytes")
        return key

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        root = self.project_dir.resolve()
        self.project_dir = root
        for name in (
            "collections_dir",
            "config_dir",
            "var_dir",
            "source_root",
            "pygeoapi_config",
            "openapi",
        ):
            value = getattr(self, name)
            if not value.is_absolute():
                setattr(self, name, (root / value).resolve())
        self._served_url()
        if self.store == "postgis" and not self.postgis_dsn:
            raise ValueError("GEOPUBLISH_STORE=postgis needs GEOPUBLISH_POSTGIS_DSN")
        return self

    @property
    def source_roots(self) -> list[Path]:
        """The folders local reads must resolve inside: the source root, then the widening."""
        extra = [Path(p) for p in self.source_allow.split(":") if p.strip()]
        return [self.source_root.resolve()] + [
            (p if p.is_absolute() else self.project_dir / p).resolve() for p in extra
        ]

    @property
    def served_url_file(self) -> Path:
        """Where ``serve`` and ``up`` record the public URL they serve on (var/served-url.json)."""
        return self.var_dir / SERVED_URL_FILE

    def _served_url(self) -> None:
        # What the last `serve` used is part of the deployment: later builds and refreshes
        # write the same URL unless the environment or the command line says otherwise.
        path = self.served_url_file
        if not path.is_file():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            host, port, base = str(saved["host"]), int(saved["port"]), saved.get("base_url")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a served-URL record ({exc})") from exc
        explicit = self.model_fields_set
        if "host" not in explicit:
            self.host = host
        if "port" not in explicit:
            self.port = port
        if "base_url" not in explicit and base is not None:
            self.base_url = str(base)

    def record_served_url(self) -> None:
        """Keep the host, port and base URL being served for every later run (atomic write)."""
        record = {"host": self.host, "port": self.port, "base_url": self.base_url}
        path = self.served_url_file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @property
    def store_dir(self) -> Path:
        """Folder of the embedded GeoPackage store."""
        return self.var_dir / "store"

    @property
    def tiles_dir(self) -> Path:
        """Folder of the vector tile sets, one MBTiles file per kept version of a layer."""
        return self.var_dir / "tiles"

    @property
    def reports_dir(self) -> Path:
        """Folder of JSON build reports."""
        return self.var_dir / "reports"

    @property
    def downloads_dir(self) -> Path:
        """Folder of the whole-layer downloads, one sub-folder per collection and build."""
        return self.var_dir / "downloads"

    @property
    def public_url(self) -> str:
        """The URL clients see."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
