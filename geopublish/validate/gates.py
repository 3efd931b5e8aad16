"""Gates on a staged build.

Counts, extent, drop versus the published version, schema drift, share of valid geometries.
Each gate yields a finding; failures refuse the publication.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from geopublish.catalog.models import Checks
from geopublish.errors import ValidationFailed
from geopublish.model import PublishedLayer

DELIBERATE = ("k-anonymity",)  # drop reasons that a spec declares (normalise/privacy.py)


@dataclass(frozen=True)
class Finding:
    """One gate's verdict."""

    gate: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form for reports."""
        return asdict(self)


def _inside(inner: list[float], outer: tuple[float, ...], tol: float = 1e-6) -> bool:
    return (
        inner[0] >= outer[0] - tol
        and inner[1] >= outer[1] - tol
        and inner[2] <= outer[2] + tol
        and inner[3] <= outer[3] + tol
    )


def evaluate(
    checks: Checks,
    *,
    count: int,
    bbox_crs84: list[float] | None,
    fields: dict[str, str],
    stats: dict[str, Any],
    previous: PublishedLayer | None,
) -> list[Finding]:
    """Run every gate that applies; ``previous`` is the published version."""
    out: list[Finding] = []
    if checks.min_features is not None:
        ok = count >= checks.min_features
        out.append(
            Finding(
                "min_features", ok, f"{count} features, at least {checks.min_features} required"
            )
        )
    if checks.max_features is not None:
        ok = count <= checks.max_features
        out.append(
            Finding("max_features", ok, f"{count} features, at most {checks.max_features} allowed")
        )
    if checks.bbox is not None and bbox_crs84 is not None:
        ok = _inside(bbox_crs84, checks.bbox)
        shown = [round(v, 5) for v in bbox_crs84]
        out.append(Finding("bbox", ok, f"data extent {shown} must lie within {list(checks.bbox)}"))
    checked = stats.get("checked_geometries", 0)
    if checked:
        share = stats.get("valid_as_read", 0) / checked
        out.append(
            Finding(
                "valid_geometries",
                share >= checks.min_valid_ratio,
                f"{share:.1%} of geometries valid as read, "
                f"at least {checks.min_valid_ratio:.0%} required",
            )
        )
    # Rows as the drivers returned them (CSV rows without coordinates never reach "read").
    read = sum((stats.get("records") or {}).values()) or stats.get("read", 0)
    # Rows a declared treatment removes on purpose (privacy.k_anonymity) are not data loss.
    lost = {k: v for k, v in (stats.get("dropped") or {}).items() if not k.startswith(DELIBERATE)}
    dropped = sum(lost.values())
    if previous is None and read:
        share = dropped / read
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(lost.items()))
        out.append(
            Finding(
                "first_build_drops",
                share <= checks.max_dropped_ratio,
                f"{dropped} of {read} records read were dropped ({share:.1%}"
                + (f"; {reasons}" if reasons else "")
                + f"), at most {checks.max_dropped_ratio:.0%} on a first build "
                "(checks.max_dropped_ratio)",
            )
        )
    if previous is not None:
        before = previous.count
        if before:
            drop = (before - count) / before
            out.append(
                Finding(
                    "max_drop",
                    drop <= checks.max_drop_ratio,
                    f"{before} -> {count} features ({-drop:+.1%}), largest drop allowed "
                    f"{checks.max_drop_ratio:.0%}",
                )
            )
        old = previous.fields
        removed = sorted(set(old) - set(fields))
        retyped = sorted(n for n in set(old) & set(fields) if old[n] != fields[n])
        if removed or retyped:
            detail = []
            if removed:
                detail.append(f"removed {removed}")
            if retyped:
                detail.append("retyped " + ", ".join(f"{n} {old[n]}->{fields[n]}" for n in retyped))
            out.append(
                Finding(
                    "schema",
                    checks.allow_schema_change,
                    "schema changed versus the published version: "
                    + "; ".join(detail)
                    + ("" if checks.allow_schema_change else " (set checks.allow_schema_change)"),
                )
            )
    return out


def enforce(collection: str, findings: list[Finding], *, force: bool) -> None:
    """Raise ValidationFailed when a gate failed, unless ``force``."""
    failed = [f for f in findings if not f.ok]
    if failed and not force:
        reasons = "; ".join(f"{f.gate}: {f.message}" for f in failed)
        raise ValidationFailed(
            f"collection {collection!r}: refused by quality gate(s): {reasons}; "
            "the published version is unchanged (use --force to publish anyway)",
            [f.as_dict() for f in findings],
        )
