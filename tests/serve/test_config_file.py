"""The committed pygeoapi-config.yml is exactly what a clean clone's `make up` writes."""

from __future__ import annotations

from gpsupport import REPO

from geopublish.catalog.loader import load_catalog
from geopublish.publish.config import build_config, render_config
from geopublish.settings import get_settings
from geopublish.store import open_stores


def test_committed_config_is_what_a_clean_checkout_generates(built):
    # The default deployment's settings (port 5000, GeoPackage store), over the catalogue built
    # once into a private var/ folder: only that folder's place differs from a checkout's var/.
    var = built["var"].resolve()
    settings = get_settings(
        project_dir=REPO, var_dir=var, host="127.0.0.1", port=5000, base_url=None, store="gpkg"
    )
    stores = open_stores(settings)
    specs = load_catalog(settings.collections_dir).select()
    layers = {s.cid: layer for s in specs if (layer := stores.current(s)) is not None}
    generated = render_config(build_config(specs, layers, settings)).replace(str(var), "var")
    committed = (REPO / "pygeoapi-config.yml").read_text(encoding="utf-8")
    assert generated == committed, "pygeoapi-config.yml is stale: regenerate it with `make up`"
    assert "/tmp" not in committed and str(REPO) not in committed
