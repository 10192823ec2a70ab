"""The domain: models, store contracts, passwords, authentication, policy; no framework or SQL."""
