"""Reading and showing what someone else made: a file within limits, and its
strings safe to print on a terminal.

A bundle or report comes from whoever hands it over, so reading it is held
to limits that no genuine one comes near, and each is refused with
`TooLarge` or `Unreadable` (both ValueError) before it costs more:

* `MAX_BYTES` (64 MiB) of JSON, decompressed: a gzip file is decompressed
  a bounded piece at a time and refused as soon as it passes the limit (a
  bomb of 8 MB that would become 8 GiB costs 64 MiB and a fraction of a
  second);
* `MAX_DEPTH` (64) levels of nested arrays and objects;
* `MAX_DIGITS` (40) characters of a number, and no NaN or Infinity: a
  Cairn document's integers are indexes, sizes and times (int64, 19
  digits), its amounts are strings;
* duplicate keys in an object.

`printable` escapes every character a terminal would act on rather than
show (controls such as ESC, line breaks, bidirectional overrides, and
other unprintable characters), so that text from a document cannot hide,
move or rewrite what is printed around it.
"""

from __future__ import annotations

import gzip
import io
import typing
import zlib

from cairn_core import json_strict

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_DIGITS = 40
GZIP_MAGIC = b"\x1f\x8b"


class Unreadable(ValueError):
    """Not JSON, or JSON out of the limits above."""


class TooLarge(Unreadable):
    """Larger than MAX_BYTES (decompressed)."""


def read_file(path: str, stdin: typing.BinaryIO | None = None, limit: int = MAX_BYTES) -> bytes:
    """The bytes of `path` (`-`: `stdin`), at most `limit` of them, else TooLarge."""
    if path == "-":
        if stdin is None:
            raise ValueError("no standard input to read")
        data = stdin.read(limit + 1)
    else:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"larger than {limit:,} bytes")
    return data


def decompressed(raw: bytes, limit: int = MAX_BYTES) -> bytes:
    """`raw` itself, or, when it is gzip (every member), what it decompresses
    to: at most `limit` bytes, else TooLarge without decompressing further."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as handle:
            data = handle.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unreadable(f"not a gzip file: {exc}") from exc
    if len(data) > limit:
        raise TooLarge(f"it decompresses to more than {limit:,} bytes")
    return data


def loads(raw: bytes | str) -> object:
    """`raw` as JSON within the limits above."""
    if len(raw) > MAX_BYTES:
        raise TooLarge(f"larger than {MAX_BYTES:,} bytes")
    try:
        document = json_strict.loads(raw, max_digits=MAX_DIGITS)
    except json_strict.TooDeep as exc:
        raise Unreadable(f"nested more than {MAX_DEPTH} levels deep") from exc
    except json_strict.StrictJSONError as exc:
        raise Unreadable(f"not JSON: {exc}") from exc
    _check_depth(document)
    return document


def _check_depth(document: object) -> None:
    """Iteratively, so that no depth can exhaust the stack here."""
    pending: list[tuple[object, int]] = [(document, 1)] if isinstance(document, dict | list) else []
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise Unreadable(f"nested more than {MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def printable(text: str) -> str:
    """`text` with every unprintable character escaped (\\x1b, \\n, \\u202e, ...)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
