"""Who may write what on the bus: one Redis user per service and one for the command line, as data.

The policy is derived from the deployment's stream names (prefix and shards) and rendered as a Redis
ACL file. Writing is what the policy is about: only risk may append an order, only risk and the
command line may append a control command, and every stream has one producer. Reading is open to
every user of the stack (a stream is not a secret inside it; the threat is a forged entry).

A consumer-group read (XREADGROUP) and its acknowledgement (XACK) are writes on the stream's key,
so key patterns alone would let a consumer of a stream append to it. Each user is therefore given
commands and keys in separate Redis 7 selectors: group commands on the streams it consumes, XADD
only on the streams it produces, read-only commands on every stream. A command is allowed when one
selector allows the command together with all of its keys.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from logos.secrets import REDIS_USERS
from logos.streams import StreamNames

ADMIN_USER = "admin"  # optional: an operator's user with every permission, when its secret exists
SERVICES = ("feed", "ml", "risk", "executor", "brain")  # the workers: heartbeats, dead letters, the session

# topics each user consumes through its consumer group (the workers' subscriptions)
CONSUMES: dict[str, tuple[str, ...]] = {
    "feed": ("control",),
    "ml": ("bars", "account"),
    "risk": ("bars", "intents", "fills", "account", "control"),
    "executor": ("orders", "bars", "control"),
    "brain": ("status", "signals"),
    "dashboard": (),
    "cli": (),
}
# topics each user produces; status (heartbeats) and dlq (dead letters) are added below for the workers
APPENDS: dict[str, tuple[str, ...]] = {
    "feed": ("bars",),
    "ml": ("intents", "signals"),
    "risk": ("orders", "control"),
    "executor": ("fills", "account"),
    "brain": (),
    "dashboard": (),
    "cli": ("control",),
}

CONNECTION = "+@connection -@admin -@dangerous"  # PING, HELLO, AUTH, CLIENT SETNAME/SETINFO/ID; no CLIENT KILL
TRANSACTION = "+multi +exec +discard"  # publish-and-acknowledge runs in one MULTI/EXEC
GROUP_COMMANDS = (
    "+xreadgroup +xack +xautoclaim +xpending +xgroup|create +xgroup|createconsumer "
    "+xinfo|groups +xinfo|stream +xinfo|consumers +xlen +xrange +xrevrange"
)
APPEND_COMMANDS = "+xadd +xtrim"  # XADD with MAXLEN/MINID, and XTRIM by the slowest group
READ_COMMANDS = "+xread +xrange +xrevrange +xlen +xpending +xinfo|groups +xinfo|stream +xinfo|consumers +exists"
# The bus runs scripts: a dead letter (XADD on dlq, EXISTS/SET of its marker, XACK on the source), a
# stream's groups read at one instant, a producer's trim below the slowest group. Redis counts every key
# a script is given as read and written, but checks each command the script runs against its user's
# rules: a script can do only what its user may do directly, so scripts may be given every key.
SCRIPT_COMMANDS = "+evalsha +eval +script|load +script|exists"

# an ACL file is split on spaces and parentheses, and key patterns are globs: keep the prefix plain
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


@dataclass(frozen=True)
class UserPolicy:
    """What one Redis user may do: the streams it consumes, appends to and reads, and its keys."""

    user: str
    consumes: tuple[str, ...]
    appends: tuple[str, ...]
    reads: tuple[str, ...]
    dead_letters: bool  # it runs consumer groups, so it dead-letters (XADD dlq, marker keys, script)
    session_writes: bool  # SET on the session keys; everyone may GET/EXISTS them

    def rules(self, names: StreamNames) -> list[str]:
        """The ACL rules after ``user <name> on #<hash>``: root permissions, then one selector per concern."""
        rules = ["resetkeys", "resetchannels", "-@all", CONNECTION]
        if self.consumes:
            rules += [TRANSACTION, GROUP_COMMANDS, *_keys("~", self.consumes)]
        rules.append(_selector(READ_COMMANDS, _keys("%R~", self.reads)))
        if self.appends:
            rules.append(_selector(APPEND_COMMANDS, _keys("~", self.appends)))
        marker_keys = f"~{names.dlq}:seen:*"
        session_keys = f"~{names.prefix}:session*"
        rules.append(_selector(SCRIPT_COMMANDS, [*_keys("~", self.reads), marker_keys, session_keys]))
        if self.session_writes:
            rules.append(_selector("+get +exists +set", [session_keys, *([marker_keys] if self.dead_letters else [])]))
        else:
            rules.append(_selector("+get +exists", [f"%R{session_keys}"]))
        return rules


def check_prefix(names: StreamNames) -> None:
    """Refuse a stream prefix that cannot be written as an ACL key pattern (spaces, parentheses, globs)."""
    if not _PLAIN.fullmatch(names.prefix):
        raise ValueError(
            f"stream prefix {names.prefix!r} cannot be written into a Redis ACL file; "
            "use letters, digits, '_', '.', ':' or '-' (LOGOS_STREAM_PREFIX)"
        )


def streams_of(names: StreamNames, topics: tuple[str, ...]) -> tuple[str, ...]:
    """The stream names of ``topics`` (every shard of a sharded one)."""
    streams: list[str] = []
    for topic in topics:
        if topic == "bars":
            streams += names.all_bars()
        elif topic == "intents":
            streams += names.all_intents()
        else:
            streams.append(getattr(names, topic))
    return tuple(streams)


def policy(names: StreamNames) -> dict[str, UserPolicy]:
    """Every Redis user of the deployment and what it may do."""
    check_prefix(names)
    table = {}
    for user in REDIS_USERS:
        worker = user in SERVICES
        appends = APPENDS[user] + (("status", "dlq") if worker else ())
        table[user] = UserPolicy(
            user=user,
            consumes=streams_of(names, CONSUMES[user]),
            appends=tuple(dict.fromkeys(streams_of(names, appends))),
            reads=tuple(names.all()),
            dead_letters=bool(CONSUMES[user]),
            session_writes=worker,
        )
    return table


def password_hash(password: str) -> str:
    """The SHA-256 Redis keeps of a password (``#<hex>`` in an ACL file): the file never holds the password."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def render_acl_file(names: StreamNames, passwords: Mapping[str, str], admin_password: str | None = None) -> str:
    """The ACL file of the deployment: the default user off, one user per entry of REDIS_USERS, an admin if given."""
    # off: no connection can use it. Its rights stay whole, though: Redis 7.0 replays the AOF's
    # transactions as the default user and checks them again at EXEC, so a default user without
    # rights would drop every MULTI (a handler's output and its acknowledgement) at the next start
    lines = ["user default off resetchannels ~* &* +@all"]
    for user, rules in policy(names).items():
        lines.append(" ".join([f"user {user} on #{password_hash(passwords[user])}", *rules.rules(names)]))
    if admin_password is not None:
        lines.append(f"user {ADMIN_USER} on #{password_hash(admin_password)} ~* &* +@all")
    return "\n".join(lines) + "\n"


def _keys(permission: str, streams: tuple[str, ...]) -> list[str]:
    return [f"{permission}{stream}" for stream in streams]


def _selector(commands: str, keys: list[str]) -> str:
    return f"({' '.join([commands, *keys])})"
