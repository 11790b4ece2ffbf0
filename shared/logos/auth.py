"""Signed bus entries: an HMAC-SHA256 over an entry's encoded fields, made with a key only its producer holds.

Anyone who can append to a stream could otherwise trade: a forged ``Order`` would be executed and a
forged ``resume`` would lift a kill. Every entry of the orders stream (risk's decisions and
trading-state changes, signed with :data:`~logos.secrets.ORDERS_KEY`) and of the control stream
(operator commands, signed with :data:`~logos.secrets.CONTROL_KEY`) therefore carries two more
fields beside the encoded message: ``signer``, the id of the key that signed it, and ``sig``, the
HMAC in lowercase hex. The message models and the codec stay as they are.

The HMAC covers a canonical byte form that cannot be read two ways: a domain tag, then the stream's
name, the signer, the message type, the schema version and the JSON body, each preceded by its
length in eight bytes. A signature is therefore bound to its stream and its signer as much as to
its body, and is compared in constant time. Consumers verify before a handler runs; an entry that
fails is dead-lettered as ``unauthenticated: <why>`` and never acted on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from logos.secrets import CONTROL_KEY, ORDERS_KEY, SecretStore
from logos.streams import StreamNames

DOMAIN = b"logos-bus-entry-hmac-sha256-v1"
FIELD_SIGNER = "signer"
FIELD_SIGNATURE = "sig"
SIGNED_FIELDS = ("type", "v", "body")  # the envelope of logos.bus.codec, in this order
SIGNATURE_HEX_DIGITS = 64


SIGNING_KEYS = (ORDERS_KEY, CONTROL_KEY)


def ensure_in_process_keys(*stores: SecretStore) -> None:
    """Create the signing keys an in-process session's services use when missing (a stack has `logos secrets init`)."""
    for store in set(stores):
        store.ensure(list(SIGNING_KEYS))


def signed_streams(names: StreamNames) -> dict[str, str]:
    """The streams whose every entry is signed, each with the id of the key that signs it."""
    return {names.orders: ORDERS_KEY, names.control: CONTROL_KEY}


class Unauthenticated(ValueError):
    """An entry of a signed stream whose signature is missing, wrong, or made with a key not accepted there."""


class SigningRefused(PermissionError):
    """This process was asked to publish on a signed stream whose key it does not hold."""


def canonical_bytes(stream: str, signer: str, fields: Mapping[str, str]) -> bytes:
    """Return the bytes an entry's HMAC covers: every part length-prefixed, so no two entries share them."""
    parts = [DOMAIN, *(_raw(text) for text in (stream, signer, *(fields[name] for name in SIGNED_FIELDS)))]
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def signature(key: bytes, stream: str, signer: str, fields: Mapping[str, str]) -> str:
    """Return the hex HMAC-SHA256 of the entry's canonical bytes under ``key``."""
    return hmac.new(key, canonical_bytes(stream, signer, fields), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Authenticator:
    """The keys one process holds: those it signs its entries with, and those it checks others' entries with.

    A stream is verified only when the process holds the key that stream is signed with; a process
    that holds no key for a stream (one that does not act on it) reads it as it is.
    """

    names: StreamNames
    signing: Mapping[str, bytes] = field(default_factory=dict)  # key id -> key
    verifying: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_store(
        cls, names: StreamNames, store: SecretStore, needed_by: str, signs: Collection[str], verifies: Collection[str]
    ) -> Authenticator:
        """Read the keys ``needed_by`` signs and verifies with; a missing one raises SecretMissing naming its file."""
        held = {name: store.require(name, needed_by).encode("utf-8") for name in (*signs, *verifies)}
        return cls(names, {name: held[name] for name in signs}, {name: held[name] for name in verifies})

    def sign(self, stream: str, fields: dict[str, str]) -> dict[str, str]:
        """Return ``fields`` with ``signer`` and ``sig`` when ``stream`` is signed; SigningRefused without its key."""
        signer = signed_streams(self.names).get(stream)
        if signer is None:
            return fields
        key = self.signing.get(signer)
        if key is None:
            raise SigningRefused(f"entries of {stream} are signed with {signer}, which this process does not sign with")
        return {**fields, FIELD_SIGNER: signer, FIELD_SIGNATURE: signature(key, stream, signer, fields)}

    def verify(self, stream: str, fields: Mapping[str, str]) -> str | None:
        """Return the entry's signer once its signature holds, None for a stream this process does not verify.

        Raise :class:`Unauthenticated` saying why otherwise: no signature, a signer the stream does
        not accept, a signature that does not match (a changed field, another key, another entry's).
        """
        expected = signed_streams(self.names).get(stream)
        if expected is None or expected not in self.verifying:
            return None
        signer, presented = fields.get(FIELD_SIGNER), fields.get(FIELD_SIGNATURE)
        if signer is None or presented is None:
            raise Unauthenticated(f"missing signature (entries of {stream} carry signer and sig, by {expected})")
        if signer != expected:
            raise Unauthenticated(f"unknown signer {_shown(signer)!r} (entries of {stream} are signed by {expected})")
        if any(name not in fields for name in SIGNED_FIELDS):
            raise Unauthenticated("bad signature: the entry lacks a signed field (type, v or body)")
        try:
            wanted = signature(self.verifying[expected], stream, signer, fields)
        except UnicodeEncodeError:
            raise Unauthenticated("bad signature: a field is not valid UTF-8") from None
        if len(presented) != SIGNATURE_HEX_DIGITS or presented.strip(_HEX):
            raise Unauthenticated(f"bad signature by {signer}: sig is not {SIGNATURE_HEX_DIGITS} lowercase hex digits")
        # compare_digest takes the same time wherever the strings differ
        if not hmac.compare_digest(presented.encode("ascii"), wanted.encode("ascii")):
            raise Unauthenticated(
                f"bad signature by {signer} (a changed entry, or a key that differs from the signer's: "
                "after a key rotation every service restarts with the new files)"
            )
        return signer


_HEX = "0123456789abcdef"


def _raw(text: str) -> bytes:
    return text.encode("utf-8")


def _shown(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")[:80]
