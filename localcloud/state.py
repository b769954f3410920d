"""The local cloud's state directory (`ORDERHUB_STATE_DIR`, default `.orderhub`): what it writes
there, who may read it, and what `make run` keeps across restarts (docs/local-cloud.md, "What
a restart keeps").

- `local.json` (seed.write_config): the API URL, the demo merchants' tokens and webhook
  secrets, the warehouse token, the admin token of the `/_local/*` routes.
- `identity.json`: the local identity provider's RSA signing key and the admin token, made once
  per state directory, so the tokens in `local.json` (and any copied from it) stay valid
  across restarts.
- `data.json`: every item of the template's tables and the material of its KMS keys, written
  when the local cloud stops and read when it starts again. The KMS keys come back with the
  same id and material, so the sealed webhook secrets and API tokens in the restored items
  still open (and signed cursors still verify).

The directory is 0700 and every file 0600, written whole to a temporary file in the same
directory and renamed over the old one: a reader sees the old file or the new one, never a
half-written one, and never a moment where the file is readable by others.

Only a local cloud started with `keep=True` (`python -m localcloud`, `make run`) writes
`identity.json` and `data.json`; the tests' local clouds keep nothing and start as fast as before.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from localcloud import internals, tokens
from localcloud.resources import Provisioned
from localcloud.template import Template

log = logging.getLogger("localcloud.state")

FORMAT = 1  # of data.json; another format is not read (the data is started afresh, with a warning)
IDENTITY_FILE = "identity.json"
DATA_FILE = "data.json"


# ---------------------------------------------------------------------- private files
def private_dir(path: Path) -> Path:
    """The directory, made 0700 (or tightened to it: a state directory from before was 0755)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    # Never a shared directory such as /tmp (sticky), never one we don't own.
    if st.st_mode & 0o077 and not st.st_mode & stat.S_ISVTX and st.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def write_private(path: Path, data: Any, *, indent: int | None = 2) -> Path:
    """`data` as JSON in `path`, mode 0600, atomically (a temporary file renamed over it)."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=indent, separators=None if indent else (",", ":"))
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s can't be read (%s): not used", path, exc)
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------- identity
def identity(state_dir: Path) -> tuple[tokens.IdentityProvider, str]:
    """The identity provider and the admin token of this state directory (made on first use)."""
    path = state_dir / IDENTITY_FILE
    kept = _read(path)
    if kept and isinstance(kept.get("signing_key"), dict) and isinstance(kept.get("admin_token"), str):
        try:
            return tokens.IdentityProvider.from_private_jwk(kept["signing_key"]), kept["admin_token"]
        except ValueError as exc:
            log.warning("%s holds no usable signing key (%s): a new one is made", path, exc)
    provider = tokens.IdentityProvider.generate()
    admin_token = new_admin_token()
    write_private(path, {"signing_key": provider.private_jwk(), "admin_token": admin_token})
    return provider, admin_token


def new_admin_token() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------------- data
class KeptDataDoesNotFit(RuntimeError):
    """The kept items do not fit the template's tables any more (a key schema changed): the start
    stops, and data.json stays as it was (a stop after a failed start keeps nothing)."""


class Keeper:
    """Restores the tables and KMS keys kept by the previous run, and keeps them at stop."""

    def __init__(self, state_dir: Path, *, restore: bool = True):
        self.path = state_dir / DATA_FILE
        self.kept: dict[str, Any] = {}
        if restore:
            kept = _read(self.path) or {}
            if kept and kept.get("format") != FORMAT:
                log.warning(
                    "%s has format %r, not %r: starting with no data", self.path, kept.get("format"), FORMAT
                )
                kept = {}
            self.kept = kept
        self.restored: dict[str, int] = {}  # table logical id -> items restored

    # -------------------------------------------------------------- at start
    def restore_keys(self, template: Template, provisioned: Provisioned) -> None:
        """Before the functions' environment is made: each kept KMS key takes the place of the
        one just made for its logical id (same id, ARN and material)."""
        for lid, kept in (self.kept.get("kms_keys") or {}).items():
            made = provisioned.keys.get(lid)
            if made is None:
                log.warning("KMS key %s is no longer in the template: its material is dropped", lid)
                continue
            arn = internals.rekey_kms_key(made, kept["key_id"], base64.b64decode(kept["material"]))
            provisioned.keys[lid] = kept["key_id"]
            template.resolver.set_attribute(lid, "Ref", kept["key_id"])
            template.resolver.set_attribute(lid, "KeyId", kept["key_id"])
            template.resolver.set_attribute(lid, "Arn", arn)

    def restore_tables(self, provisioned: Provisioned, fake_marketplace_url: str | None) -> None:
        """Put back every kept item, as a restore from a backup does: indexes see them, the
        streams do not (what was published before the restart is not published again). A URL
        of the previous run's fake marketplace (its port changes) is moved to this run's."""
        old_url = self.kept.get("fake_marketplace_url")
        move = (old_url, fake_marketplace_url) if old_url and fake_marketplace_url != old_url else None
        for lid, items in (self.kept.get("tables") or {}).items():
            name = provisioned.tables.get(lid)
            if name is None:
                log.warning(
                    "table %s is no longer in the template: its %d items are dropped", lid, len(items)
                )
                continue
            if move and fake_marketplace_url:
                items = [_moved(item, move[0], fake_marketplace_url) for item in items]
            try:
                self.restored[lid] = internals.restore_items(name, items)
            except Exception as exc:  # noqa: BLE001 moto refuses an item that does not fit the table
                raise KeptDataDoesNotFit(
                    f"{self.path}: the kept items of {lid} do not fit the table of the template "
                    f"({type(exc).__name__}: {exc}); start without them: make run ARGS=--fresh"
                ) from exc
        if self.restored:
            counts = ", ".join(f"{lid} {n}" for lid, n in self.restored.items())
            log.info("restored from %s (saved %s): %s items", self.path, self.kept.get("saved_at"), counts)

    # -------------------------------------------------------------- at stop
    def save(self, provisioned: Provisioned, dynamodb: Any, fake_marketplace_url: str | None) -> None:
        started = time.monotonic()
        tables = {lid: _scan(dynamodb, name) for lid, name in provisioned.tables.items()}
        keys = {
            lid: {
                "key_id": key_id,
                "material": base64.b64encode(internals.kms_key_material(key_id)).decode("ascii"),
            }
            for lid, key_id in provisioned.keys.items()
        }
        write_private(
            self.path,
            {
                "format": FORMAT,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "fake_marketplace_url": fake_marketplace_url,
                "kms_keys": keys,
                "tables": tables,
            },
            indent=None,
        )
        count = sum(len(items) for items in tables.values())
        log.info("kept %d items in %s (%.1fs)", count, self.path, time.monotonic() - started)


def _scan(dynamodb: Any, table_name: str) -> list[dict]:
    items: list[dict] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.extend(_wire(item) for item in page["Items"])
    return items


def _wire(value: Any) -> Any:
    """An item as boto3 gives it, back in DynamoDB's JSON (binary values in base64)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _moved(value: Any, old: str, new: str) -> Any:
    """`value` (DynamoDB JSON) with each string that is `old` or starts `old/` starting `new`."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "S" and isinstance(v, str):
                out[k] = _move_url(v, old, new)
            elif k == "SS" and isinstance(v, list):
                out[k] = [_move_url(s, old, new) for s in v]
            else:
                out[k] = _moved(v, old, new)
        return out
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    return value


def _move_url(text: str, old: str, new: str) -> str:
    if text == old or text.startswith(old.rstrip("/") + "/"):
        return new.rstrip("/") + text[len(old.rstrip("/")) :]
    return text
