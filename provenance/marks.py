"""High-water marks kept outside the database: what its rows must never go below.

An insider with the database (triggers off, plain SQL) can delete the
newest checkpoint row, or integrity incidents, and nothing left in the
database says so. So the highest value each of these reached is kept
twice beside it, where that insider's SQL does not reach:

* a small JSON file, VAR_DIR/ledger/<name>.json, replaced atomically (a
  temporary file renamed over it) under an exclusive lock;
* Django's cache (Redis in production, shared by every process), key
  `cairn:mark:<name>`, never expiring.

A mark only rises (`raise_to`), but for `reset` once a drop below it was
recorded as an incident; `read` returns each copy that exists. The
integrity checks (audit.watchdog) compare the database with them.

Marks kept: `checkpoint` (the newest published tree size and its root,
raised by provenance.checkpoints after commit), `incidents` and
`check_runs` (the highest row id and the number of rows, raised by
audit.watchdog).

Limits: someone who also controls VAR_DIR and the cache can lower both
copies; the witnesses, which keep their own state, are the independent
guard for checkpoints. A database restored from a backup on purpose is
below its marks too: remove VAR_DIR/ledger/*.json and the cache keys then.
Neither copy failing stops a write: a mark that cannot be kept is logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

FILE = "file"
CACHE = "cache"


@dataclass(frozen=True)
class Mark:
    """`high`: a tree size or a row id; `count`: rows; `root`: the root at `high` (checkpoints)."""

    high: int
    count: int = 0
    root: str = ""

    def above(self, other: Mark | None) -> Mark:
        """The higher of the two, field by field; at equal `high`, the first root kept stays."""
        if other is None:
            return self
        root = self.root if self.high > other.high else other.root or self.root
        return Mark(max(self.high, other.high), max(self.count, other.count), root)

    @classmethod
    def parse(cls, data: object) -> Mark | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(int(data["high"]), int(data.get("count", 0)), str(data.get("root", "")))
        except (KeyError, TypeError, ValueError):
            return None


def path(name: str) -> Path:
    return Path(settings.VAR_DIR) / "ledger" / f"{name}.json"


def cache_key(name: str) -> str:
    return f"cairn:mark:{name}"


def read(name: str) -> dict[str, Mark]:
    """Each copy of the mark that exists: {"file": ..., "cache": ...}."""
    found: dict[str, Mark] = {}
    try:
        on_disk = Mark.parse(json.loads(path(name).read_text()))
    except FileNotFoundError:
        on_disk = None
    except (OSError, ValueError) as exc:
        log.warning("mark %s: the file does not read: %s", name, exc)
        on_disk = None
    if on_disk is not None:
        found[FILE] = on_disk
    try:
        cached = Mark.parse(cache.get(cache_key(name)))
    except Exception as exc:  # the cache is down: the file still counts
        log.warning("mark %s: the cache does not answer: %s", name, exc)
        cached = None
    if cached is not None:
        found[CACHE] = cached
    return found


def raise_to(name: str, mark: Mark) -> None:
    """Raise both copies of the mark to `mark` where it is higher; never lower them."""
    try:
        with _locked(name):
            current = read(name).get(FILE)
            if mark.above(current) != current:
                _write(path(name), mark.above(current))
    except OSError as exc:
        log.error("mark %s: the file cannot be written: %s", name, exc)
    try:
        current = Mark.parse(cache.get(cache_key(name)))
        if mark.above(current) != current:
            cache.set(cache_key(name), asdict(mark.above(current)), timeout=None)
    except Exception as exc:
        log.error("mark %s: the cache cannot be written: %s", name, exc)


def reset(name: str, mark: Mark) -> None:
    """Set both copies to `mark`, lower or not: only once what lowered it was recorded."""
    try:
        with _locked(name):
            _write(path(name), mark)
    except OSError as exc:
        log.error("mark %s: the file cannot be written: %s", name, exc)
    try:
        cache.set(cache_key(name), asdict(mark), timeout=None)
    except Exception as exc:
        log.error("mark %s: the cache cannot be written: %s", name, exc)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One writer at a time: two publishers must not write a lower mark over a higher."""
    folder = path(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(target: Path, mark: Mark) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(mark), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
