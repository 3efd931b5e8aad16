"""Deployment settings, read from ``GEOPUBLISH_*`` environment variables.

Nothing is built at import time: call :func:`get_settings` and pass the result down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        None, description="Public URL of the API; defaults to http://HOST:PORT."
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(5000, description="Port to bind.")
    workers: int = Field(2, description="gunicorn worker processes.")
    batch_size: int = Field(
        5_000,
        description="Features per build batch; the four build stages hold one batch each.",
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="Threads per vectorised geometry step of a build (read by "
        "geopublish.parallel; default: the usable cores, at most 4; 1 = none).",
    )
    keep_versions: int = Field(5, description="Published versions kept per layer for rollback.")
    webhook_url: str | None = Field(
        None, description="POSTed a JSON run record when a build or refresh is refused or fails."
    )
    watch_interval: float = Field(
        10.0, description="Seconds between the scheduler's checks for new or edited specs."
    )
    cache_control: str = Field(
        "public, max-age=60",
        description="Cache-Control sent with collection responses (empty: none); ETag and "
        "Last-Modified always let clients revalidate cheaply.",
    )

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
        if self.store == "postgis" and not self.postgis_dsn:
            raise ValueError("GEOPUBLISH_STORE=postgis needs GEOPUBLISH_POSTGIS_DSN")
        return self

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
    def public_url(self) -> str:
        """The URL clients see."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
