"""The client tests' TLS servers (the real Gateway), for the remote mode (test_remote.py)."""

from tests.client.conftest import cert, serve, server_state

__all__ = ["cert", "serve", "server_state"]
