"""The `domains` plugin object, shared by the modules that declare its functions."""

from __future__ import annotations

from panelauth.extension import Plugin

plugin = Plugin("domains", "1.0.0")
