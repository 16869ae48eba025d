"""Older import path for the service registry; kept so code written for it runs unchanged."""

from aethergraph.services.runtime.registry import (
    get_ext_context_service,
    list_ext_context_services,
    register_context_service,
)

__all__ = ["get_ext_context_service", "list_ext_context_services", "register_context_service"]
