"""Every function panelauth serves, gathered from the per-module registries."""

from __future__ import annotations

from panelauth.api.registry import Registry
from panelauth.api.uapi import account, email, panelauth_sessions
from panelauth.api.uapi import session as cpanel_session
from panelauth.api.uapi import tokens as cpanel_tokens
from panelauth.api.uapi import twofactor as cpanel_twofactor
from panelauth.api.whm import (
    accounts,
    cphulk,
    featurelists,
    info,
    resellers,
    session_admin,
    sessions,
    tokens,
    tweaksettings,
    twofactor,
)


def build_registry() -> Registry:
    registry = Registry()
    for module in (
        info,
        accounts,
        resellers,
        featurelists,
        tokens,
        twofactor,
        sessions,
        session_admin,
        cphulk,
        tweaksettings,
        account,
        email,
        cpanel_tokens,
        cpanel_twofactor,
        cpanel_session,
        panelauth_sessions,
    ):
        registry.include(module.registry)
    return registry
