"""``python -m geopublish``."""

from geopublish.cli.main import main

main()
