"""Pure GeoDataFrame -> GeoDataFrame steps: CRS, conform, repair, dedupe, ids."""
