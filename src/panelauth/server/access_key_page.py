"""WHM's "Remote Access Key" page (root only, issue 12, w§12): show root's access hash, generate
a new one, copy it, and convert it to an API token.

It uses the same use cases as WHM API 1 `accesshash` and `panelauth whmapi1 accesshash`
(core/credential_changes.py). Generating and converting make a credential, so each asks for the
current password or a current code in the same form (the re-authentication rule of the
Password & Security page); both are POSTs to the page's `/cpsessN` path.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from panelauth.core.access_hash import access_hash_path, read_access_hash_file
from panelauth.core.models import ROOT, Identity
from panelauth.core.tokens import TokenKind, digest
from panelauth.errors import FunctionFailed
from panelauth.protocol.services import Listener, Service
from panelauth.server.page_call import PageCall
from panelauth.server.render import not_found_page
from panelauth.server.request_info import RequestFacts
from panelauth.server.security_pages import reauthenticate
from panelauth.server.state import ServerState


class AccessKeyPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        request, identity, info = call.request, call.identity, call.info
        if self.service is not Service.WHM or not identity.is_root:
            return not_found_page(self.service)  # root's alone: nobody else learns it exists
        status, message, refused = 200, None, False
        if request.method == "POST":
            form = await info.form(request)
            try:
                message = await self._change(identity, form, info)
            except FunctionFailed as failed:
                status, message, refused = max(failed.status, 400), failed.message, True
        key = await self._current_key()
        return call.render(
            "access_key.html",
            status=status,
            message=message,
            refused=refused,
            key=key,
            converted=await self._converted() if key is not None else None,
            principal=identity.possessor or identity.user,
        )

    async def _change(self, identity: Identity, form: dict[str, str], info: RequestFacts) -> str:
        action = form.get("action", "")
        if action not in ("generate", "convert"):
            raise FunctionFailed("This page does not know that action.")
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            raise _Refused(refused)
        changes = self.state.runtime.credential_changes()
        if action == "generate":
            path = access_hash_path(self.state.runtime.home_root, ROOT)
            await changes.generate_access_hash(actor=identity.user, user=ROOT, path=path)
            return "A new remote access key was generated. The previous one no longer works."
        name = await changes.convert_access_hash(actor=identity.user, user=ROOT)
        return f"The key is now also the API token “{name}”: revoking the token revokes it."

    async def _converted(self) -> str | None:
        """The name of the API token root's key was converted to, if it was (same digest)."""
        store = self.state.runtime.store
        stored = await store.get_access_hash_digest(ROOT)
        token = await store.find_token(ROOT, TokenKind.WHM, stored) if stored else None
        return token.name if token is not None else None

    async def _current_key(self) -> str | None:
        """Root's access hash as its file holds it, if the store still accepts it (w§12)."""
        runtime = self.state.runtime
        text = read_access_hash_file(access_hash_path(runtime.home_root, ROOT)) or ""
        stored = await runtime.store.get_access_hash_digest(ROOT)
        if not text or stored is None or not hmac.compare_digest(stored, digest(text)):
            return None
        return text.replace("\n", "")


class _Refused(FunctionFailed):
    status = 403
