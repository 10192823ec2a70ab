"""The SSL plugin (`plugins: [ssl]`): certificates installed through UAPI `SSL::install_ssl`
and API 2 `SSL::installssl`, checked with `cryptography`, stored per domain in the plugin's
storage, listed and fetched as cPanel answers, and served by the TLS listeners by SNI
(docs/ssl.md)."""

from panelauth.plugins.ssl import functions, serving
from panelauth.plugins.ssl.declaration import plugin

__all__ = ["functions", "plugin", "serving"]
