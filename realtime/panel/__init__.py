"""The live control panel: a local web page, an HTTP JSON API and a preview for a running
``realtime webcam`` (the ``[panel]`` extra: aiohttp)."""
