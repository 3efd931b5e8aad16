"""Read vector parts in bounded batches: pyogrio's Arrow stream when it can, else pages.

Each batch is a GeoDataFrame whose CRS is what the file declares, or the spec's override.
Tables without geometry (CSV) get one from x/y or WKT columns.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geopublish.catalog.models import CsvGeometry, Source
from geopublish.errors import SourceError
from geopublish.source.archive import datasets, listing
from geopublish.source.resolve import Resolved


def _open_error(collection: str, part: Resolved, exc: Exception) -> SourceError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    detail = detail.replace(part.gdal_path, "").strip(" :") or detail
    if len(detail) > 300:
        detail = detail[:297] + "..."
    if part.member is not None or part.file.suffix.lower() == ".zip":
        return _zip_error(collection, part, detail)
    return SourceError(f"collection {collection!r}: cannot read {part.origin!r}: {detail}")


def _zip_error(collection: str, part: Resolved, detail: str) -> SourceError:
    """What a zip holds when GDAL cannot open it, and how to name one member."""
    try:
        with zipfile.ZipFile(part.file) as archive:
            found = datasets(archive)
            members = listing(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        return SourceError(
            f"collection {collection!r}: {part.origin!r} is not a readable zip: {exc}"
        )
    where = f"collection {collection!r}: {str(part.file)!r}"
    if part.member is not None:
        return SourceError(
            f"{where}: cannot read member {part.member!r}: {detail}; the archive holds {members}"
        )
    archive_name = part.file.name
    if not found:
        return SourceError(
            f"{where} holds no dataset GDAL can open ({members}); name the file to read "
            f"as '{archive_name}!<member>'"
        )
    hint = ", ".join(repr(f"{archive_name}!{m}") for m in found[:5])
    return SourceError(
        f"{where}: GDAL cannot open the archive as one dataset ({detail}); it holds "
        f"{len(found)} candidate(s) {found[:20]}: name one in the part's path, e.g. {hint}"
    )


def layer_info(
    part: Resolved, source: Source, collection: str, extra: dict[str, str] | None = None
) -> dict:
    """Pyogrio's description of the part's layer (fields, CRS, count, geometry type)."""
    layer = source.layer
    try:
        if layer is None:
            layers = pyogrio.list_layers(part.gdal_path)
            if len(layers) > 1:
                names = [str(n) for n, _ in layers]
                raise SourceError(
                    f"collection {collection!r}: {part.origin!r} holds {len(layers)} layers "
                    f"{names}; set source.layer to one of them"
                )
        options = {**_open_options(source), **(extra or {})}
        info = pyogrio.read_info(part.gdal_path, layer=layer, **options)
        return dict(info)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise _open_error(collection, part, exc) from exc


def iter_batches(
    part: Resolved,
    source: Source,
    collection: str,
    batch_size: int,
    stats: dict,
    extra: dict[str, str] | None = None,
) -> Iterator[gpd.GeoDataFrame]:
    """Yield GeoDataFrames of at most ``batch_size`` rows from one part.

    ``extra`` holds GDAL open options found while preparing the part (ENCODING).
    """
    info = layer_info(part, source, collection, extra)
    layer = source.layer
    crs = source.crs or info.get("crs")
    options = {**_open_options(source), **(extra or {})}
    if source.encoding is not None and info.get("driver") == "ESRI Shapefile":
        # GDAL recodes DBF text itself, so the fast Arrow stream still applies.
        options = {**options, "ENCODING": source.encoding}
    try:
        if source.encoding is None or "ENCODING" in options:
            frames = _arrow_batches(part.gdal_path, layer, batch_size, options)
        else:
            frames = _paged_batches(
                part.gdal_path,
                layer,
                source.encoding,
                batch_size,
                int(info.get("features") or -1),
                options,
            )
        records = stats.setdefault("records", {})
        for frame in frames:
            # Rows as the driver returned them, per part (checked against its declared count).
            records[part.origin] = records.get(part.origin, 0) + len(frame)
            if source.csv is not None:
                frame = _csv_geometry(frame, source.csv, collection, part, stats)
            elif "geometry" not in frame:
                raise SourceError(
                    f"collection {collection!r}: {part.origin!r} has no geometry column; "
                    "for a table, set source.csv with x/y or wkt columns"
                )
            yield gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)
    except (DataSourceError, DataLayerError) as exc:
        raise _open_error(collection, part, exc) from exc


SEPARATORS = {",": "COMMA", ";": "SEMICOLON", "\t": "TAB", " ": "SPACE", "|": "PIPE"}


def _open_options(source: Source) -> dict[str, str]:
    if source.csv is not None and source.csv.delimiter:
        return {"SEPARATOR": SEPARATORS.get(source.csv.delimiter, source.csv.delimiter)}
    return {}


def _arrow_batches(
    path: str, layer: str | None, batch_size: int, options: dict[str, str]
) -> Iterator[pd.DataFrame]:
    with pyogrio.open_arrow(
        path, layer=layer, batch_size=batch_size, use_pyarrow=True, **options
    ) as (
        meta,
        reader,
    ):
        geom_col = meta.get("geometry_name") or "wkb_geometry"
        for batch in reader:
            frame = batch.to_pandas()
            if geom_col in frame:
                wkb = frame.pop(geom_col).to_numpy()
                frame["geometry"] = shapely.from_wkb(wkb)
            yield frame


def _paged_batches(
    path: str,
    layer: str | None,
    encoding: str,
    batch_size: int,
    total: int,
    options: dict[str, str],
) -> Iterator[pd.DataFrame]:
    start = 0
    while total < 0 or start < total:
        frame = pyogrio.read_dataframe(
            path,
            layer=layer,
            encoding=encoding,
            skip_features=start,
            max_features=batch_size,
            **options,
        )
        if len(frame) == 0:
            return
        yield pd.DataFrame(frame)
        start += len(frame)
        if len(frame) < batch_size:
            return


def _numbers(values: pd.Series, decimal_comma: bool) -> np.ndarray:
    text = values.astype("string").str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _csv_geometry(
    frame: pd.DataFrame, csv: CsvGeometry, collection: str, part: Resolved, stats: dict
) -> pd.DataFrame:
    frame = frame.drop(columns=["geometry"], errors="ignore")
    needed = [c for c in (csv.x, csv.y, csv.wkt) if c]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SourceError(
            f"collection {collection!r}: column(s) {missing} missing from {part.origin!r}; "
            f"columns are {list(frame.columns)}"
        )
    if csv.wkt:
        text = frame[csv.wkt].astype("string")
        geoms = shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore")
        bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    else:
        xs = _numbers(frame[csv.x], csv.decimal_comma)
        ys = _numbers(frame[csv.y], csv.decimal_comma)
        bad = ~(np.isfinite(xs) & np.isfinite(ys))
        geoms = np.full(len(frame), None, dtype=object)
        geoms[~bad] = shapely.points(xs[~bad], ys[~bad])
    if bad.any():
        reason = "unparseable coordinates"
        stats["dropped"][reason] = stats["dropped"].get(reason, 0) + int(bad.sum())
    out = frame.loc[~bad].copy()
    out["geometry"] = geoms[~bad]
    return out
