"""The `domains` reference plugin: `DomainInfo::domains_data`, `Features::has_feature`,
`SubDomain` (UAPI `addsubdomain`, API 2 `addsubdomain`, `listsubdomains`, `delsubdomain`) and
`SSH::get_port`, shaped as cPanel's public reference describes them (docs/domains.md).

Importing the modules below declares their functions on `plugin`.
"""

from panelauth.plugins.domains import domain_info, features, settings, ssh, subdomain_api
from panelauth.plugins.domains.plugin import plugin

__all__ = ["domain_info", "features", "plugin", "settings", "ssh", "subdomain_api"]
