"""GTFS feeds: read and validate a feed, then derive its stops and routes layers.

``read_feed`` drops unusable rows and reports them; ``derive_stops`` and ``derive_routes``
build EPSG:4326 GeoDataFrames whose ``id`` is ``"<network>:<gtfs id>"``.
"""

from geopublish.normalise.gtfs.feed import Feed, read_feed
from geopublish.normalise.gtfs.routes import derive_routes
from geopublish.normalise.gtfs.stops import derive_stops

__all__ = ["Feed", "derive_routes", "derive_stops", "read_feed"]
