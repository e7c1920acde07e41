"""MI Net Desktop: hear the instrument being played in a performance video.

Layers (arrows one way, checked by import-linter): gui -> engine -> model/features/pose -> media -> core.
"""

__version__ = "0.1.0"
