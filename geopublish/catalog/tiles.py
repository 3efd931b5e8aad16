"""The optional ``tiles:`` section of a spec: the vector tile set built with each version."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Tiles(BaseModel):
    """Zoom range and attributes of the layer's vector tiles (defaults by geometry type)."""

    model_config = ConfigDict(extra="forbid")

    minzoom: int | None = Field(
        None,
        ge=0,
        le=22,
        description="Lowest zoom level built (default: 6 for points, 0 for lines and polygons).",
    )
    maxzoom: int | None = Field(
        None,
        ge=0,
        le=22,
        description="Highest zoom level built (default: 14 for points, 12 for lines and "
        "polygons); clients overzoom beyond it.",
    )
    attributes: list[str] | None = Field(
        None,
        description="Declared fields carried in the tiles (the id always is); default: all.",
    )
    enabled: bool = Field(True, description="Build tiles for this layer.")

    @model_validator(mode="after")
    def _range(self) -> Tiles:
        if self.minzoom is not None and self.maxzoom is not None and self.minzoom > self.maxzoom:
            raise ValueError(f"minzoom {self.minzoom} is above maxzoom {self.maxzoom}")
        return self
