"""Older import path for ``Service``; kept so code written for it runs unchanged."""

from aethergraph.services.runtime.base import AsyncRWLock, BaseContextService, Service

__all__ = ["AsyncRWLock", "BaseContextService", "Service"]
