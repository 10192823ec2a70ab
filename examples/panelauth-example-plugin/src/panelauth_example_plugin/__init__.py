"""An example panelauth plugin: one note per domain, in the plugin's own storage.

Enabled by `plugins: [example]` in panelauth.yaml once this package is installed next to
panelauth (its entry point is `example` in the group `panelauth.functions`).
"""

from __future__ import annotations

from typing import Any

from panelauth.extension import (
    DomainRemoved,
    InvalidArgument,
    NotFound,
    Params,
    Plugin,
    PluginContext,
    PluginServices,
    PluginStorage,
)

plugin = Plugin("example", "1.0.0")

NOTES = "notes"  # the table: one record per domain, keyed by the domain
SETTINGS = "settings"  # the key-value entry migration 1 writes


@plugin.migration(1)
async def create_settings(storage: PluginStorage) -> None:
    await storage.put(SETTINGS, {"max_note_chars": 500})


@plugin.uapi("ExampleNotes", "set_note", changes_state=True, sets_password=False)
async def set_note(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """Keep `note` for `domain`, one of the calling account's domains."""
    account = await ctx.require_domain(args.require("domain"))
    note = args.require("note")
    settings = await ctx.storage.get(SETTINGS) or {}
    limit = int(settings.get("max_note_chars", 500))
    if len(note) > limit:
        raise InvalidArgument(f"A note has at most {limit} characters.")
    record = {"domain": account.domain, "user": account.user, "note": note, "at": ctx.clock.now()}
    await ctx.storage.table(NOTES).put(account.domain, record)
    return record


@plugin.uapi("ExampleNotes", "get_note", changes_state=False, sets_password=False)
async def get_note(ctx: PluginContext, args: Params) -> dict[str, Any]:
    account = await ctx.require_domain(args.require("domain"))
    record = await ctx.storage.table(NOTES).get(account.domain)
    if record is None:
        raise NotFound(f"No note for “{account.domain}”.")
    return record


@plugin.whm1("example_list_notes", acl="list-accts", changes_state=False)
async def list_notes(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """The notes of the accounts the caller manages (`user`: only that account's)."""
    notes = ctx.storage.table(NOTES)
    if user := args.get("user"):
        await ctx.require_account(user)
        found = await notes.find(user=user)
    else:
        found = {}
        for domain, record in (await notes.all()).items():
            if await ctx.owns_account(record["user"]):
                found[domain] = record
    return {"notes": list(found.values())}


@plugin.on(DomainRemoved)
async def forget_note(event: DomainRemoved, services: PluginServices) -> None:
    await services.storage.table(NOTES).delete(event.domain)
