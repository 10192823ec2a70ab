"""The HTTP server: the only package that imports the web framework (aiohttp on uvloop)."""
