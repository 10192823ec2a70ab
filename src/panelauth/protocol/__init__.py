"""The wire, shared by server and client: pure functions, no I/O."""
