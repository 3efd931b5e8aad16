"""The wiring of one layer's run: source -> normalise -> validate -> store, then the record.

``run.py`` runs one collection (lock, recovery, change check, build, swap); ``detect.py``
decides whether its inputs changed; ``kinds.py`` says where each source kind's frames come
from; ``features.py`` and ``raster.py`` stage a layer and pass its gates; ``swap.py`` is the
one swap-and-record step (also used by rollbacks) and its recovery; ``batch.py`` builds
several collections and republishes the API configuration.
"""

from geopublish.pipeline.run import run_collection

__all__ = ["run_collection"]
