"""The `dns_zones` plugin object, declared once; the modules beside it register its functions."""

from panelauth.extension import Plugin

plugin = Plugin("dns_zones", "1.0.0")
FEATURE = "zoneedit"  # cPanel's feature for the Zone Editor: an account's list may switch it off
