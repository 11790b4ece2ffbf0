"""Dead letters keep a bounded excerpt of a bad entry, with the size and hash of all of it."""

from __future__ import annotations

import hashlib
import json

from logos.bus.backend import RawEntry
from logos.bus.codec import encode
from logos.bus.dead_letter import EXCERPT_CHARACTERS, canonical_json, dead_letter_for, reason_digest
from logos.contracts import DeadLetter


def _letter(fields: dict[str, str], reason: str = "invalid entry: bad", group: str = "ml") -> DeadLetter:
    return dead_letter_for(RawEntry("logos:bars:0", "1-0", fields), group, group, 1, reason)


def test_dead_letter_when_entry_small_then_fields_kept_exactly_with_size_and_hash() -> None:
    fields = {"type": "bar", "v": "2", "body": '{"id": "é"}'}
    letter = dead_letter_for(RawEntry("logos:bars:0", "1-0", fields), "ml", "ml-1", 1, "invalid entry: v")
    assert letter.fields == fields and letter.truncated is False
    assert letter.size == len(b"typebarv2body") + len('{"id": "é"}'.encode())
    expected = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert letter.sha256 == hashlib.sha256(expected).hexdigest()


def test_dead_letter_when_entry_huge_then_excerpt_bounded_and_size_and_hash_of_the_whole() -> None:
    body = "x" * 5_000_000
    fields = {"type": "bar", "v": "1", "body": body}
    letter = dead_letter_for(RawEntry("logos:bars:0", "1-0", fields), "ml", "ml-1", 1, "invalid entry: body")
    assert letter.truncated is True
    assert sum(len(name) + len(value) for name, value in letter.fields.items()) == EXCERPT_CHARACTERS
    assert letter.fields["type"] == "bar" and body.startswith(letter.fields["body"])
    assert letter.size == len("typebarv1body") + 5_000_000
    assert letter.sha256 == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
    assert len(encode(letter)["body"]) < 3 * EXCERPT_CHARACTERS


def test_dead_letter_when_many_fields_or_a_huge_name_then_excerpt_still_bounded() -> None:
    many = dead_letter_for(RawEntry("s", "1-0", {f"f{i}": "v" * 10 for i in range(10_000)}), "ml", "ml", 1, "r")
    huge_name = dead_letter_for(RawEntry("s", "1-0", {"n" * 10_000: "v"}), "ml", "ml", 1, "r")
    for letter in (many, huge_name):
        assert letter.truncated is True
        assert sum(len(name) + len(value) for name, value in letter.fields.items()) <= EXCERPT_CHARACTERS


def test_dead_letter_when_bytes_not_utf8_then_escaped_in_excerpt_and_hashed_as_read() -> None:
    raw = b"\xff\xfe".decode("utf-8", "surrogateescape")
    letter = dead_letter_for(RawEntry("s", "1-0", {"body": raw}), "ml", "ml", 1, "invalid entry: utf-8")
    assert letter.fields == {"body": "\\xff\\xfe"} and letter.truncated is False
    assert letter.size == len(b"body") + 2


def test_reason_digest_when_groups_fail_alike_then_equal_and_when_unalike_then_different() -> None:
    assert reason_digest(_letter({"a": "b"}, group="ml")) == reason_digest(_letter({"a": "b"}, group="risk"))
    assert reason_digest(_letter({"a": "b"}, reason="handler failed")) != reason_digest(_letter({"a": "b"}))
