"""What a handler publishes leaves with its acknowledgement: one transaction, one round trip.

While a consumer runs a handler, :meth:`Bus.publish` collects the handler's messages here instead of
sending each one; when the handler returns, the consumer appends them and acknowledges the entry in
one MULTI. A handler that fails publishes nothing (its entry is delivered again), and a hop through a
service costs one round trip to Redis however many messages it produces.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Outbox:
    """The messages one handler published, in order; closed once they have been handed over."""

    entries: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    closed: bool = False


# the handler's task sees the consumer's outbox; tasks it starts copy the context but find it closed by
# the time they publish after the handler returned, and then publish directly
CURRENT_OUTBOX: ContextVar[Outbox | None] = ContextVar("logos_bus_outbox", default=None)
