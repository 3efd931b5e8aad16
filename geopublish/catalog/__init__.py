"""Layer specs: YAML -> typed, checked models."""

from geopublish.catalog.loader import Catalog, load_catalog, load_spec
from geopublish.catalog.models import CollectionSpec

__all__ = ["Catalog", "CollectionSpec", "load_catalog", "load_spec"]
