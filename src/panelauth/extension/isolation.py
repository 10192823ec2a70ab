"""A plugin function as the dispatcher runs it: given its context, kept from harming the server.

An error of panelauth's tree (InvalidArgument, NotFound, PermissionDenied, FunctionFailed, a
store that is unavailable) is answered as the built-ins' are. Anything else a plugin lets out,
or data JSON cannot carry, becomes one calm FunctionFailed in the API's envelope and one line in
the app log naming the plugin, the function and the exception class; the client never sees the
exception's text.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from panelauth.api.context import CallContext
from panelauth.api.outcome import Outcome
from panelauth.api.registry import Function, Handler, function_label
from panelauth.errors import FunctionFailed, PanelauthError
from panelauth.extension.context import PluginContext, PluginServices
from panelauth.extension.plugin import PluginFunction
from panelauth.extension.reply import Reply
from panelauth.extension.storage import PluginStorage
from panelauth.protocol.params import Params

log = logging.getLogger(__name__)

FAILED = "The function failed because of an internal error; the server log has the details."


def plugin_logger(plugin_name: str) -> logging.Logger:
    return logging.getLogger(f"panelauth.plugin.{plugin_name}")


def guarded(plugin_name: str, declared: PluginFunction) -> Handler:
    """The dispatcher's handler for `declared`: a PluginContext in, plain JSON data out."""
    plugin_log = plugin_logger(plugin_name)
    label = function_label(declared.api, declared.module, declared.name)

    async def handler(call: CallContext, args: Params) -> Any:
        runtime = call.runtime
        storage = PluginStorage(runtime.store, plugin_name)
        context = PluginContext(
            call, PluginServices(plugin_name, storage, runtime.clock, plugin_log)
        )
        try:
            data = await declared.handler(context, args)
            if isinstance(data, Reply):  # UAPI's status and messages said by the plugin
                return Outcome(
                    _plain(data.data), messages=tuple(data.messages), uapi_status=data.status
                )
            return _plain(data)
        except PanelauthError:
            raise
        except Exception as error:  # the plugin's bug: one log line, one calm answer
            log.error(
                "plugin %s: %s raised %s",
                plugin_name,
                label,
                type(error).__name__,
                exc_info=error,
            )
            raise FunctionFailed(FAILED) from None

    return handler


def _plain(data: Any) -> Any:
    """Plain JSON from here on: what the envelope, YAML output and the client can carry."""
    return orjson.loads(orjson.dumps(data))


def served(plugin_name: str, declared: PluginFunction) -> Function:
    """The registry's entry for a plugin function, sourced `plugin <name>`."""
    return Function(
        declared.api,
        declared.module,
        declared.name,
        guarded(plugin_name, declared),
        acl=declared.acl,
        feature=declared.feature,
        webmail_safe=declared.webmail_safe,
        sets_password=declared.sets_password,
        source=f"plugin {plugin_name}",
        changes_state=declared.changes_state,
    )
