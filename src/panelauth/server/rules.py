"""The wire rules that come before authentication: pure functions of the request's facts.

Each raises the error of the one tree that answers it (errors.py), or returns. Nothing here
looks anything up, and nothing is logged here (the gateway logs what it must).
"""

from __future__ import annotations

from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.errors import BadRequest, CrossSiteRefused, SslRequired, TokenScopeDenied
from panelauth.protocol.authorization import Scheme
from panelauth.protocol.services import Service
from panelauth.server.request_info import RequestFacts


def check_api_request(facts: RequestFacts, *, require_ssl: bool) -> None:
    """An API request, before any credential is looked at (w§1.2, w§1.4, w§1.6, w§6).

    `require_ssl` is the value in force for this request (the shared `requiressl`, read by the
    gateway from its worker's view when the request began: core/shared_settings.py)."""
    schemes = facts.schemes
    # 1. two Authorization headers are a malformed request (w§1.6)
    if len(schemes) > 1:
        raise BadRequest("Only one Authorization header")
    # 2. the plain-port rule: a password never, other credentials only without require_ssl
    header = facts.authorization
    if not facts.listener.tls and (
        require_ssl or (header is not None and header.lower().startswith("basic"))
    ):
        raise SslRequired()
    # 3. CS-4: a browser's cross-site request never acts with Basic credentials, nor with a
    # cookie unless it is a top-level navigation
    if facts.cross_site and (
        schemes[:1] == (Scheme.BASIC,) if schemes else not facts.top_level_navigation
    ):
        raise CrossSiteRefused()


def check_page_request(facts: RequestFacts) -> None:
    """A cookie-authenticated page: cross-site only as a top-level navigation (w§6)."""
    if facts.cross_site and not facts.top_level_navigation:
        raise CrossSiteRefused()


def carries_cpanel_token(facts: RequestFacts) -> bool:
    """An `Authorization: cpanel ...` header on a cPanel port; only the scheme is read (w§2.4)."""
    return facts.service is Service.CPANEL and Scheme.CPANEL in facts.schemes


def check_token_scope(identity: Identity, *, uapi_or_api2: bool) -> None:
    """cPanel API tokens reach UAPI and API 2 only (w§2.4, TK-5)."""
    if (
        not uapi_or_api2
        and identity.credential is CredentialKind.API_TOKEN
        and identity.kind is IdentityKind.CPANEL
    ):
        raise TokenScopeDenied()
