"""Specs + published layers -> pygeoapi resources, pygeoapi-config.yml and the OpenAPI document."""

from geopublish.publish.config import build_config, cleanup, render_config, write_config

__all__ = ["build_config", "cleanup", "render_config", "write_config"]
