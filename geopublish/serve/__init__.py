"""pygeoapi under gunicorn, geopublish's provider, reports and downloads."""
