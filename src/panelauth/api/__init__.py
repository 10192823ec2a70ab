"""API functions and their registry; the same function serves HTTP, the CLI and tests."""
