"""Older import path for the service registry; kept so code written for it runs unchanged.

``current_services().channels`` keeps the published API's channel settings working; they map
onto ``aethergraph.runtime.set_default_channel`` and ``set_channel_alias``.
"""

from aethergraph.services.channel import set_channel_alias, set_default_channel
from aethergraph.services.runtime.registry import (
    get_ext_context_service,
    list_ext_context_services,
    register_context_service,
)

__all__ = [
    "current_services",
    "get_ext_context_service",
    "list_ext_context_services",
    "register_context_service",
]


class _ChannelSettings:
    """The published API's ``current_services().channels``."""

    def set_default_channel_key(self, key: str) -> None:
        """Use ``key`` for ``context.channel()`` with no key (``set_default_channel``)."""
        set_default_channel(key)

    def set_channel_alias(self, alias: str, key: str) -> None:
        """Let ``context.channel(alias)`` mean ``context.channel(key)``."""
        set_channel_alias(alias, key)


class _Services:
    """The published API's ``current_services()``: only its channel settings are kept."""

    channels = _ChannelSettings()


_services = _Services()


def current_services() -> _Services:
    """The published API's service container; ``.channels`` sets the default channel."""
    return _services
