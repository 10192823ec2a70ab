"""Every function panelauth serves, gathered from the per-module registries."""

from __future__ import annotations

from panelauth.api.registry import Registry
from panelauth.api.uapi import account, email
from panelauth.api.whm import accounts, featurelists, info, resellers


def build_registry() -> Registry:
    registry = Registry()
    for module in (info, accounts, resellers, featurelists, account, email):
        registry.include(module.registry)
    return registry
