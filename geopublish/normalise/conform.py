"""Shared output schema: keep the declared fields, computed and cast; drop the rest."""

from __future__ import annotations

import ast

import pandas as pd

from geopublish.catalog.models import Conform, OutputField
from geopublish.errors import NormaliseError
from geopublish.normalise import expr

TRUE = {"true", "1", "yes", "y", "oui", "o", "t", "vrai"}
FALSE = {"false", "0", "no", "n", "non", "f", "faux"}


class Conformer:
    """Compiled ``conform`` and ``where`` for one collection, applied batch by batch."""

    def __init__(self, conform: Conform | None, where: str | None, collection: str) -> None:
        self.conform = conform
        self.collection = collection
        self.where = (
            expr.parse(where, collection=collection, where="source.where") if where else None
        )
        self.exprs: dict[str, ast.Expression] = {}
        for i, field in enumerate(conform.fields if conform else []):
            if field.expr:
                self.exprs[field.name] = expr.parse(
                    field.expr, collection=collection, where=f"conform.fields[{i}].expr"
                )

    def apply(self, frame: pd.DataFrame, origin: str, stats: dict) -> pd.DataFrame:
        """Filter with ``where``, then build the output columns (geometry kept)."""
        columns = [c for c in frame.columns if c != "geometry"]
        if self.where is not None:
            self._require(expr.names(self.where), columns, origin, "source.where")
            mask = pd.Series(expr.evaluate(self.where, frame), index=frame.index)
            mask = mask.fillna(False).astype(bool)
            stats["filtered"] = stats.get("filtered", 0) + int((~mask).sum())
            frame = frame.loc[mask]
        if self.conform is None:
            return frame
        out = pd.DataFrame(index=frame.index)
        for i, field in enumerate(self.conform.fields):
            where = f"conform.fields[{i}] ({field.name!r})"
            if field.name in self.exprs:
                tree = self.exprs[field.name]
                self._require(expr.names(tree), columns, origin, where)
                value = expr.evaluate(tree, frame)
                raw = value if isinstance(value, pd.Series) else pd.Series(value, index=frame.index)
            else:
                column = next((c for c in field.candidates if c in columns), None)
                if column is None and field.optional:
                    absent = stats.setdefault("absent", {}).setdefault(origin, {})
                    absent[field.name] = absent.get(field.name, 0) + len(frame)
                    raw = pd.Series(pd.NA, index=frame.index, dtype="string")
                else:
                    if column is None:
                        self._missing(field.candidates, columns, origin, where)
                    raw = frame[column]
            out[field.name] = cast(raw, field, stats)
        out["geometry"] = frame["geometry"]
        return out

    def _missing(self, names: list[str], columns: list[str], origin: str, where: str) -> None:
        shown = repr(names[0]) if len(names) == 1 else f"any of {names}"
        raise NormaliseError(
            f"collection {self.collection!r}: {where}: column {shown} not found in "
            f"{origin!r}; its columns are {_short_list(columns)} (mark the field "
            "`optional: true` if parts may lack it)"
        )

    def _require(self, needed: set[str], columns: list[str], origin: str, where: str) -> None:
        missing = sorted(needed - set(columns))
        if missing:
            raise NormaliseError(
                f"collection {self.collection!r}: {where}: column {missing[0]!r} not found in "
                f"{origin!r}; its columns are {_short_list(columns)}"
            )


def _short_list(names: list[str], limit: int = 30) -> str:
    shown = [str(n)[:60] for n in names[:limit]]
    return f"{shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _count_failures(raw: pd.Series, out: pd.Series, field: OutputField, stats: dict) -> None:
    failed = int((raw.notna() & out.isna()).sum())
    if failed:
        bucket = stats.setdefault("cast_failed", {})
        bucket[field.name] = bucket.get(field.name, 0) + failed


def _blank_to_na(raw: pd.Series) -> pd.Series:
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        text = raw.astype("string").str.strip()
        return text.mask(text == "")
    return raw


def cast(raw: pd.Series, field: OutputField, stats: dict) -> pd.Series:
    """Cast to the declared type; values that cannot be cast become null and are counted."""
    kind = field.type
    raw = _blank_to_na(raw)
    if kind == "string":
        if pd.api.types.is_float_dtype(raw) and (raw.dropna() % 1 == 0).all():
            raw = raw.astype("Int64")
        return raw.astype("string")
    if kind in ("integer", "number"):
        text = (
            raw.astype("string").str.replace(",", ".", regex=False)
            if not pd.api.types.is_numeric_dtype(raw)
            else raw
        )
        num = pd.to_numeric(text, errors="coerce")
        if kind == "integer":
            num = num.where(num.isna() | (num % 1 == 0))
            out = num.astype("Int64")
        else:
            out = num.astype("Float64")
    elif kind == "boolean":
        text = raw.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        out[text.isin(TRUE).fillna(False)] = True
        out[text.isin(FALSE).fillna(False)] = False
    else:
        text = raw.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        retry = parsed.isna() & text.notna()
        if retry.any():
            for fmt in ("%Y%m%d", "%d/%m/%Y", "%d/%m/%y", "%d/%m/%Y %H:%M:%S"):
                again = pd.to_datetime(text[retry], errors="coerce", format=fmt, utc=True)
                parsed[retry] = again
                retry = parsed.isna() & text.notna()
        fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%SZ"
        out = parsed.dt.strftime(fmt).astype("string")
    _count_failures(raw, out, field, stats)
    return out
