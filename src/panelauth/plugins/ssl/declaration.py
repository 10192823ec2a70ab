"""The `ssl` plugin's declaration; its functions and handlers register on it when imported."""

from panelauth.extension import Plugin

plugin = Plugin("ssl", "1.0.0")
