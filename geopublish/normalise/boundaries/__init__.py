"""Derived boundary layers: EPCI and départements dissolved from communes, generalisation.

Pure GeoDataFrame -> GeoDataFrame functions, each returning ``(layer, report)``.
"""

from geopublish.normalise.boundaries.dissolve import derive_departements
from geopublish.normalise.boundaries.epci import derive_epci
from geopublish.normalise.boundaries.generalise import simplify_coverage
from geopublish.normalise.boundaries.reconcile import reconcile_codes

__all__ = [
    "derive_departements",
    "derive_epci",
    "reconcile_codes",
    "simplify_coverage",
]
