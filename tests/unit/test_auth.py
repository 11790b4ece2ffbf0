"""Signed bus entries: what a signature covers, and every way a forged or altered entry is refused."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from logos.auth import Authenticator, SigningRefused, Unauthenticated, canonical_bytes, signature
from logos.bus import decode, encode
from logos.contracts import Control, ControlCommand, Order
from logos.secrets import CONTROL_KEY, ORDERS_KEY, SecretMissing, SecretStore
from logos.streams import StreamNames
from tests.support.bus_helpers import T0

NAMES = StreamNames(prefix="unit")
KEYS = {ORDERS_KEY: b"o" * 64, CONTROL_KEY: b"c" * 64}


def order(target: str = "10") -> Order:
    return Order(
        id="o1",
        ts=T0,
        intent_id="i1",
        symbol="AAPL",
        target_quantity=Decimal(target),
        reference_price=Decimal("100"),
        strategy="test",
    )


def risk() -> Authenticator:
    return Authenticator(NAMES, signing={ORDERS_KEY: KEYS[ORDERS_KEY]}, verifying={CONTROL_KEY: KEYS[CONTROL_KEY]})


def executor() -> Authenticator:
    return Authenticator(NAMES, verifying=dict(KEYS))


def cli() -> Authenticator:
    return Authenticator(NAMES, signing={CONTROL_KEY: KEYS[CONTROL_KEY]})


def test_signed_order_when_verified_by_the_executor_then_signer_is_orders_key_and_message_decodes() -> None:
    fields = risk().sign(NAMES.orders, encode(order()))
    assert fields["signer"] == ORDERS_KEY and len(fields["sig"]) == 64
    assert executor().verify(NAMES.orders, fields) == ORDERS_KEY
    assert decode(fields, NAMES.accepted_types(NAMES.orders)) == order()


def test_entry_when_body_tampered_then_bad_signature() -> None:
    fields = risk().sign(NAMES.orders, encode(order()))
    body = json.loads(fields["body"])
    body["target_quantity"] = "2000"
    with pytest.raises(Unauthenticated, match=r"^bad signature by orders-key"):
        executor().verify(NAMES.orders, {**fields, "body": json.dumps(body)})


def test_entry_when_type_or_version_changed_then_bad_signature() -> None:
    fields = risk().sign(NAMES.orders, encode(order()))
    for name, value in (("type", "order_denied"), ("v", "2")):
        with pytest.raises(Unauthenticated, match=r"^bad signature"):
            executor().verify(NAMES.orders, {**fields, name: value})


def test_entry_when_signed_with_another_key_then_bad_signature() -> None:
    wrong = Authenticator(NAMES, signing={ORDERS_KEY: b"w" * 64})
    with pytest.raises(Unauthenticated, match=r"^bad signature by orders-key"):
        executor().verify(NAMES.orders, wrong.sign(NAMES.orders, encode(order())))


def test_signature_when_replayed_on_a_different_body_then_bad_signature() -> None:
    signed = risk().sign(NAMES.orders, encode(order("10")))
    other = encode(order("2000"))
    with pytest.raises(Unauthenticated, match=r"^bad signature"):
        executor().verify(NAMES.orders, {**other, "signer": signed["signer"], "sig": signed["sig"]})


def test_signature_when_replayed_on_another_stream_then_bad_signature() -> None:
    other = StreamNames(prefix="other")
    signed = risk().sign(NAMES.orders, encode(order()))
    with pytest.raises(Unauthenticated, match=r"^bad signature"):
        Authenticator(other, verifying=dict(KEYS)).verify(other.orders, signed)


def test_entry_when_unsigned_then_missing_signature() -> None:
    with pytest.raises(Unauthenticated, match=r"^missing signature"):
        executor().verify(NAMES.orders, encode(order()))
    signed = cli().sign(NAMES.control, encode(Control(command=ControlCommand.RESUME, reason="r")))
    for left_out in ("signer", "sig"):
        with pytest.raises(Unauthenticated, match=r"^missing signature"):
            executor().verify(NAMES.control, {k: v for k, v in signed.items() if k != left_out})


def test_order_when_signed_with_the_control_key_then_unknown_signer() -> None:
    """The command line holds the control key: it must not be able to sign an order with it."""
    fields = encode(order())
    forged = {**fields, "signer": CONTROL_KEY, "sig": signature(KEYS[CONTROL_KEY], NAMES.orders, CONTROL_KEY, fields)}
    with pytest.raises(Unauthenticated, match=r"^unknown signer 'control-key'"):
        executor().verify(NAMES.orders, forged)
    with pytest.raises(Unauthenticated, match=r"^unknown signer 'mallory'"):
        executor().verify(NAMES.orders, {**forged, "signer": "mallory"})


def test_signature_when_not_hex_then_bad_signature() -> None:
    signed = risk().sign(NAMES.orders, encode(order()))
    for sig in ("", "zz" * 32, signed["sig"].upper(), signed["sig"] + "0", "é" * 64):
        with pytest.raises(Unauthenticated, match=r"^bad signature"):
            executor().verify(NAMES.orders, {**signed, "sig": sig})


def test_canonical_bytes_when_text_moves_between_parts_then_bytes_differ() -> None:
    fields = {"type": "order", "v": "1", "body": "{}"}
    assert canonical_bytes("a:b", "c", fields) != canonical_bytes("a", ":bc", fields)
    assert canonical_bytes("s", "k", fields) != canonical_bytes("s", "k", {**fields, "v": "1{", "body": "}"})


def test_process_without_a_streams_key_when_reading_it_then_not_verified() -> None:
    assert risk().verify(NAMES.orders, encode(order())) is None  # risk does not act on the orders stream
    assert executor().verify(NAMES.bars(), {"type": "bar"}) is None  # bars are not signed


def test_publisher_without_the_key_when_signing_then_refused_and_unsigned_streams_pass() -> None:
    control = encode(Control(command=ControlCommand.KILL, reason="r"))
    with pytest.raises(SigningRefused, match="signed with control-key"):
        risk().sign(NAMES.control, control)
    with pytest.raises(SigningRefused):
        executor().sign(NAMES.orders, encode(order()))
    plain = {"type": "bar", "v": "1", "body": "{}"}
    assert cli().sign(NAMES.bars(), plain) == plain


def test_keys_when_read_from_store_then_missing_one_names_its_file(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    with pytest.raises(SecretMissing, match=re.escape(f"risk needs the secret {tmp_path}/secrets/orders-key")):
        Authenticator.from_store(NAMES, store, "risk", [ORDERS_KEY], [CONTROL_KEY])
    store.ensure([ORDERS_KEY, CONTROL_KEY])
    held = Authenticator.from_store(NAMES, store, "risk", [ORDERS_KEY], [CONTROL_KEY])
    assert set(held.signing) == {ORDERS_KEY} and set(held.verifying) == {CONTROL_KEY}
    other = Authenticator.from_store(NAMES, store, "executor", [], [ORDERS_KEY, CONTROL_KEY])
    assert other.verify(NAMES.orders, held.sign(NAMES.orders, encode(order()))) == ORDERS_KEY
