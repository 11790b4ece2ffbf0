"""Dead letters of bad entries: a bounded excerpt with the entry's size and hash, recorded once per failure.

An entry of several megabytes read by three groups used to be copied whole into the dead-letter
stream three times. A dead letter now keeps at most :data:`EXCERPT_CHARACTERS` of the entry's
fields, with the size and SHA-256 of all of it, and the same failure of the same entry (the
same source stream, entry id and reason: an invalid entry fails alike in every group) is
recorded once. Every group still acknowledges the entry; a different failure in another group
(its own handler's) is a dead letter of its own.
"""

from __future__ import annotations

import hashlib
import json

from logos.bus.backend import RawEntry
from logos.bus.codec import printable
from logos.contracts import DeadLetter

EXCERPT_CHARACTERS = 2048
"""Characters of field names and values a dead letter keeps of its entry."""

REASON_CHARACTERS = 2000
MARKER_TTL_SECONDS = 24 * 3600
"""How long a recorded failure suppresses its copies; a group further behind than this records its own."""


def dead_letter_for(entry: RawEntry, group: str, consumer: str, deliveries: int, reason: str) -> DeadLetter:
    """Return the dead letter of ``entry``: the reason, an excerpt of its fields, their size and hash."""
    fields = entry.fields or {}
    excerpt, truncated = _excerpt(fields)
    return DeadLetter(
        source_stream=entry.stream,
        entry_id=entry.entry_id,
        group=group,
        consumer=consumer,
        deliveries=deliveries,
        reason=printable(reason)[:REASON_CHARACTERS],
        fields=excerpt,
        truncated=truncated,
        size=sum(len(_raw(name)) + len(_raw(value)) for name, value in fields.items()),
        sha256=hashlib.sha256(_raw(canonical_json(fields))).hexdigest(),
    )


def reason_digest(letter: DeadLetter) -> str:
    """Return a short digest of the letter's reason: the same failure has the same digest in every group."""
    return hashlib.sha256(letter.reason.encode("utf-8")).hexdigest()[:16]


def canonical_json(fields: dict[str, str]) -> str:
    """Return the entry's fields as the JSON that ``sha256`` hashes: sorted names, no spaces, not ASCII-escaped."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _excerpt(fields: dict[str, str]) -> tuple[dict[str, str], bool]:
    kept: dict[str, str] = {}
    budget = EXCERPT_CHARACTERS
    for name, value in fields.items():
        if budget <= 0:
            return kept, True
        shown_name, name_cut = _cut(name, budget)
        budget -= len(shown_name)
        shown_value, value_cut = _cut(value, budget)
        budget -= len(shown_value)
        kept[shown_name] = shown_value
        if name_cut or value_cut:
            return kept, True
    return kept, False


def _cut(text: str, budget: int) -> tuple[str, bool]:
    shown = printable(text[:budget])  # escapes make it longer: cut again
    return shown[:budget], len(text) > budget or len(shown) > budget


def _raw(text: str) -> bytes:
    # undecodable bytes read from Redis come back as themselves; other lone surrogates stay encodable
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
