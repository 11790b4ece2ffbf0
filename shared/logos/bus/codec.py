"""Stream entries <-> wire messages: the envelope every entry carries, and its validation.

An entry is ``type``, ``v`` and ``body``; on a signed stream (orders, control) it also carries
``signer`` and ``sig``, which :mod:`logos.auth` adds and checks over those three fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from logos.auth import FIELD_SIGNATURE, FIELD_SIGNER, SIGNED_FIELDS
from logos.contracts import MESSAGE_TYPES, SCHEMA_VERSION, WIRE, Message

FIELD_TYPE = "type"
FIELD_VERSION = "v"
FIELD_BODY = "body"
_FIELDS = frozenset({FIELD_TYPE, FIELD_VERSION, FIELD_BODY})
_SIGNATURE_FIELDS = frozenset({FIELD_SIGNER, FIELD_SIGNATURE})  # checked by logos.auth, not here
assert SIGNED_FIELDS == (FIELD_TYPE, FIELD_VERSION, FIELD_BODY), "a signature covers the whole envelope"


class InvalidEntry(ValueError):
    """A stream entry that is not a valid message for its stream; the text says why."""


class Carried(dict[str, str]):
    """Entry fields that also carry the frozen message they encode: the in-memory bus hands it over.

    A message is validated when it is made; within one process its entry needs no second validation
    (only what crosses a process boundary is decoded). Fields whose body was replaced are decoded.
    """

    __slots__ = ("body", "message")

    def __init__(self, fields: Mapping[str, str], message: Message) -> None:
        super().__init__(fields)
        self.message = message
        self.body = fields[FIELD_BODY]


def copied(fields: Mapping[str, str]) -> dict[str, str]:
    """A copy of entry fields that keeps a carried message."""
    return Carried(fields, fields.message) if isinstance(fields, Carried) else dict(fields)


def encode(message: Message) -> dict[str, str]:
    """Return the entry fields for ``message``."""
    return {
        FIELD_TYPE: message.type,  # type: ignore[attr-defined]
        FIELD_VERSION: str(SCHEMA_VERSION),
        FIELD_BODY: message.model_dump_json(),
    }


def decode(fields: Mapping[str, str], accepted: frozenset[str]) -> Message:
    """Validate raw entry fields and return the message, or raise :class:`InvalidEntry`."""
    if isinstance(fields, Carried) and fields.get(FIELD_BODY) is fields.body and fields.get(FIELD_TYPE) in accepted:
        return fields.message
    for name, value in fields.items():
        try:
            name.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEntry(f"field {printable(name)!r} is not valid UTF-8") from None
    missing = sorted(_FIELDS - fields.keys())
    if missing:
        raise InvalidEntry(f"missing field(s) {', '.join(missing)}; an entry has type, v and body")
    unexpected = sorted(fields.keys() - _FIELDS - _SIGNATURE_FIELDS)
    if unexpected:
        raise InvalidEntry(f"unexpected field(s) {', '.join(unexpected)}; an entry has type, v and body")
    if fields[FIELD_VERSION] != str(SCHEMA_VERSION):
        raise InvalidEntry(
            f"schema version {fields[FIELD_VERSION]!r} is not supported (this build reads {SCHEMA_VERSION})"
        )
    message_type = fields[FIELD_TYPE]
    if message_type not in accepted:
        raise InvalidEntry(
            f"type {message_type!r} does not belong on this stream (accepts {', '.join(sorted(accepted))})"
        )
    model = MESSAGE_TYPES[message_type]
    try:
        return model.model_validate_json(fields[FIELD_BODY], context=WIRE)
    except ValidationError as exc:
        raise InvalidEntry(f"body is not a valid {message_type}: {summarize(exc)}") from None


def summarize(error: ValidationError, limit: int = 3) -> str:
    """Return the first validation errors of ``error`` on one line."""
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def printable(text: str) -> str:
    """Return ``text`` with undecodable bytes shown as escapes, safe to store and print."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
