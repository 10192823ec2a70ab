"""UAPI and cPanel API 2 functions."""
