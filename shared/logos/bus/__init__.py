"""The message bus: typed publish and consumer-group delivery over Redis Streams (or memory)."""

from logos.bus.backend import BackendUnavailable, GroupInfo
from logos.bus.bus import Bus, BusUnavailable, Tailed
from logos.bus.codec import InvalidEntry, decode, encode
from logos.bus.consumer import Delivery, Handler, Refused
from logos.bus.options import ConsumerOptions, ConsumerStats, LastEntry

__all__ = [
    "BackendUnavailable",
    "Bus",
    "BusUnavailable",
    "ConsumerOptions",
    "ConsumerStats",
    "Delivery",
    "GroupInfo",
    "Handler",
    "InvalidEntry",
    "LastEntry",
    "Refused",
    "Tailed",
    "decode",
    "encode",
]
