"""panelauth: a cPanel & WHM compatible authentication server."""

__version__ = "0.1.0.dev0"
