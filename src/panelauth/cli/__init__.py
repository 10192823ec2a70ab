"""The `panelauth` command: local administration and the server."""
