"""``logos secrets``: create the stack's secrets once, and write the Redis ACL file from them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from logos.bus.acl import ADMIN_USER, render_acl_file
from logos.secrets import REDIS_USERS, SecretStore, redis_password_name, stack_secret_names
from logos.settings import LogosSettings

secrets_app = typer.Typer(help="The stack's secrets: Redis passwords and signing keys.", no_args_is_help=True)
ADMIN_SECRET = redis_password_name(ADMIN_USER)


def init(
    admin: Annotated[
        bool, typer.Option(help=f"Also create {ADMIN_SECRET}: an operator's Redis user with every right.")
    ] = False,
    containers: Annotated[
        bool,
        typer.Option(
            help="Make the files readable inside containers (docker compose mounts them with their host "
            "permissions); the directory stays owner-only, so other users of this machine still cannot read them."
        ),
    ] = False,
) -> None:
    """Create every missing secret of the stack (never overwrites one); print what it created, never a value."""
    store = LogosSettings().secrets
    names = [*stack_secret_names(), *([ADMIN_SECRET] if admin else [])]
    created = store.ensure(names)
    if containers:
        _share_with_containers(store, names)
    for name in created:
        typer.echo(f"created {store.path(name)}")
    kept = len(names) - len(created)
    typer.echo(f"secrets in {store.directory}: {len(created)} created, {kept} already there")


def redis_acl(
    out: Annotated[Path, typer.Option("--out", help="The ACL file to write (redis-server --aclfile).")],
) -> None:
    """Write the Redis ACL file: one user per service and the command line, for LOGOS_STREAM_PREFIX and LOGOS_SHARDS."""
    settings = LogosSettings()
    store = settings.secrets
    passwords = {user: store.require(redis_password_name(user), "the Redis ACL file") for user in REDIS_USERS}
    text = render_acl_file(settings.streams, passwords, store.get(ADMIN_SECRET))
    _write_atomically(out, text)
    admin = f" and {ADMIN_USER}" if store.get(ADMIN_SECRET) else ""
    typer.echo(f"wrote {out}: users {', '.join(REDIS_USERS)}{admin} (default off), streams {settings.stream_prefix}:*")


secrets_app.command("init")(init)
secrets_app.command("redis-acl")(redis_acl)


def _share_with_containers(store: SecretStore, names: list[str]) -> None:
    store.directory.chmod(0o700)  # the directory keeps other users of the host out
    for name in names:
        store.path(name).chmod(0o644)


def _write_atomically(path: Path, text: str) -> None:
    # only password hashes, but no reason for anyone but the owner (and Redis, run by the owner) to read it
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
