"""The message bus: typed publish and consumer-group delivery over Redis Streams (or memory)."""

from logos.bus.backend import BackendUnavailable, GroupInfo, RawEntry
from logos.bus.bus import Bus, BusUnavailable, Tailed
from logos.bus.codec import InvalidEntry, decode, encode
from logos.bus.consumer import Deferred, Delivery, Handler, Refused, dead_letter
from logos.bus.options import ConsumerOptions, ConsumerStats, LastEntry

__all__ = [
    "BackendUnavailable",
    "Bus",
    "BusUnavailable",
    "ConsumerOptions",
    "ConsumerStats",
    "Deferred",
    "Delivery",
    "GroupInfo",
    "Handler",
    "InvalidEntry",
    "LastEntry",
    "RawEntry",
    "Refused",
    "Tailed",
    "dead_letter",
    "decode",
    "encode",
]
