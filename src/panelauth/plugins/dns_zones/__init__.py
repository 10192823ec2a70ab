"""DNS zones for the accounts' domains (issue 14): API 2 `ZoneEdit`, UAPI `DNS::parse_zone` and
`DNS::mass_edit_zone`, WHM API 1 `export_zone_files`; docs/dns-zones.md.

Enabled by `plugins: [dns_zones]` in panelauth.yaml; importing the modules below registers
their functions, event handlers and migration on `plugin`.
"""

from . import api2, events, uapi, whm, zone_store
from .plugin import plugin

__all__ = ["api2", "events", "plugin", "uapi", "whm", "zone_store"]
