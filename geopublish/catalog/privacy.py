"""The ``privacy:`` section of a spec: the treatment of personal data before publication.

With a ``privacy`` section every published field must be accounted for: treated
(pseudonymised, coarsened), a declared quasi-identifier, a reviewed free-text field, or
declared not personal. A field nobody declared is an error, so a new column cannot slip out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommuneReference(_Strict):
    """The communes layer a location is replaced by (e.g. IGN Admin Express / COG)."""

    path: str = Field(
        description="Communes file(s) under GEOPUBLISH_SOURCE_ROOT, e.g. "
        "'admin_france_geojson_occitanie/communes-*.geojson' (a pattern reads every match)."
    )
    code_field: str = Field("code", description="Column of the commune's INSEE code.")
    shape: Literal["polygon", "centroid"] = Field(
        "centroid", description="Publish the commune's polygon or its centroid."
    )


class Generalise(_Strict):
    """How each location is made less precise."""

    method: Literal["grid", "commune", "displace"] = Field(
        description="grid: snap to the centre of a square cell; commune: replace by the "
        "commune (polygon or centroid); displace: move randomly within a radius (the "
        "displacement is drawn from the key and the feature, so it is stable across builds)."
    )
    cell_m: float | None = Field(
        None, gt=0, description="grid: cell size in metres (Lambert-93, EPSG:2154)."
    )
    radius_m: float | None = Field(
        None, gt=0, description="displace: largest displacement in metres (Lambert-93)."
    )
    communes: CommuneReference | None = Field(None, description="commune: the communes layer.")

    @model_validator(mode="after")
    def _parameters(self) -> Generalise:
        needed = {"grid": "cell_m", "displace": "radius_m", "commune": "communes"}[self.method]
        if getattr(self, needed) is None:
            raise ValueError(f"method {self.method!r} needs `{needed}`")
        return self


class Coarsen(_Strict):
    """A date made coarser (month, year) or a number replaced by its band."""

    field: str = Field(description="Output field to coarsen (conform.fields name).")
    to: Literal["month", "year"] | None = Field(
        None,
        description="Dates: keep 'YYYY-MM' (month) or 'YYYY' (year); the field is "
        "published as a string.",
    )
    bands: list[float] | None = Field(
        None,
        min_length=2,
        description="Numbers: ascending band edges; a value becomes '[low, high)' as a "
        "string, values outside the edges '< first' or '>= last'.",
    )

    @model_validator(mode="after")
    def _one(self) -> Coarsen:
        if (self.to is None) == (self.bands is None):
            raise ValueError(f"coarsen {self.field!r}: give `to` (dates) or `bands` (numbers)")
        if self.bands is not None and self.bands != sorted(set(self.bands)):
            raise ValueError(f"coarsen {self.field!r}: bands must be strictly ascending")
        return self


class KAnonymity(_Strict):
    """Every published combination of quasi-identifiers is shared by at least k rows."""

    k: int = Field(ge=2, description="Smallest group size published.")
    quasi_identifiers: list[str] = Field(
        min_length=1,
        description="Output fields (after treatment) whose combination could single a "
        "person out; 'geometry' stands for the (generalised) location.",
    )
    strategy: Literal["suppress", "generalise"] = Field(
        "suppress",
        description="suppress: drop the rows of rarer combinations; generalise: blank their "
        "quasi-identifier fields (geometry excepted) and drop only what is still rarer than k.",
    )


class Privacy(_Strict):
    """Treatment of personal data, applied before ids, hashes and dedupe keys are computed."""

    legal_basis: str = Field(
        description="GDPR legal basis of the publication, shown in the collection document "
        "(e.g. 'art. 6(1)(e) RGPD, mission d'intérêt public')."
    )
    justification: str | None = Field(
        None, description="Why the treatment below is enough; shown in the collection document."
    )
    drop: list[str] = Field(
        default_factory=list,
        description="Source columns removed as read, before anything else sees them.",
    )
    pseudonymise: list[str] = Field(
        default_factory=list,
        description="Output fields replaced by a keyed HMAC-SHA-256 (key from "
        "GEOPUBLISH_PRIVACY_KEY or GEOPUBLISH_PRIVACY_KEY_FILE). Pseudonymised data is "
        "still personal data under the GDPR.",
    )
    generalise: Generalise | None = Field(None, description="Location generalisation.")
    coarsen: list[Coarsen] = Field(default_factory=list, description="Dates and numbers.")
    k_anonymity: KAnonymity | None = Field(None, description="Suppression of rare combinations.")
    free_text: list[str] = Field(
        default_factory=list,
        description="Free-text output fields published knowingly (reviewed). Any other "
        "undeclared field refuses the spec.",
    )
    attributes: list[str] = Field(
        default_factory=list,
        description="Output fields declared not personal (codes, categories), published as is.",
    )

    def declared(self) -> dict[str, str]:
        """Each declared output field and how it is handled."""
        out: dict[str, str] = {}
        for name in self.attributes:
            out[name] = "attribute"
        for name in self.free_text:
            out[name] = "free_text"
        for name in self.k_anonymity.quasi_identifiers if self.k_anonymity else []:
            out[name] = "quasi_identifier"
        for rule in self.coarsen:
            out[rule.field] = f"coarsen ({rule.to or 'bands'})"
        for name in self.pseudonymise:
            out[name] = "pseudonymise"
        return out

    @property
    def needs_key(self) -> bool:
        """Pseudonyms and displacements are keyed."""
        return bool(self.pseudonymise) or (
            self.generalise is not None and self.generalise.method == "displace"
        )

    @model_validator(mode="after")
    def _disjoint(self) -> Privacy:
        treated = [*self.pseudonymise, *(c.field for c in self.coarsen)]
        twice = sorted({n for n in treated if treated.count(n) > 1})
        if twice:
            raise ValueError(f"field(s) {twice} treated twice (pseudonymise / coarsen)")
        plain = set(self.free_text) | set(self.attributes)
        clash = sorted(plain & set(treated))
        if clash:
            raise ValueError(
                f"field(s) {clash} are treated and also listed as free_text or attributes"
            )
        return self


def privacy_problems(privacy: Privacy, fields: list[tuple[str, str]] | None) -> list[str]:
    """Cross-checks against the output schema ``fields`` ((name, type)); one line each."""
    if fields is None:
        return ["privacy: needs a `conform` section (every published field declared)"]
    names = [n for n, _ in fields]
    types = dict(fields)
    problems = []
    declared = privacy.declared()
    for name, how in declared.items():
        if name not in names and name != "geometry":
            problems.append(f"privacy: {how} field {name!r} is not among conform.fields {names}")
    if "geometry" in declared and declared["geometry"] != "quasi_identifier":
        problems.append("privacy: only k_anonymity.quasi_identifiers may name 'geometry'")
    for name in names:
        if name in declared:
            continue
        if types[name] == "string":
            problems.append(
                f"privacy: free-text field {name!r} would be published untreated; list it in "
                "privacy.free_text (reviewed), privacy.attributes (not personal), or treat it"
            )
        else:
            problems.append(
                f"privacy: field {name!r} ({types[name]}) would be published undeclared; list "
                "it in privacy.attributes (not personal) or treat it (coarsen, pseudonymise)"
            )
    for rule in privacy.coarsen:
        kind = types.get(rule.field)
        if rule.to and kind not in (None, "date", "datetime"):
            problems.append(f"privacy: coarsen {rule.field!r} to a {rule.to}: needs a date field")
        if rule.bands and kind not in (None, "integer", "number"):
            problems.append(f"privacy: coarsen {rule.field!r} in bands: needs a number field")
    return problems
