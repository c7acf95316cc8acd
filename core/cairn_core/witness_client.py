"""The log's side of C2SP tlog-witness: asking a witness to cosign a checkpoint.

    POST <witness URL>/add-checkpoint
    body = "old <size>\\n" + one base64 consistency-proof hash a line + "\\n" + the checkpoint note

A witness answers 200 with its cosignature lines, or 409
(`text/x.tlog.size`, the size it last cosigned) when `old` is not that
size: the log then proves consistency from that size and asks again. Any
other answer (403, 404, 400, 422) means the witness refuses this
checkpoint; a 5xx or a network failure means it could not be asked now.

`request_cosignature` does one exchange and says which it was;
`cosign_from` follows at most one 409 with a proof from the size named.
Only lines that verify under the configured witness key are kept (the
spec: a client ignores cosignatures from unknown keys).

Standard library only (urllib), so it runs anywhere the core does.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from cairn_core import cosignature, signed_note

SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_RESPONSE = 64 * 1024
_SIZE = re.compile(r"\A(0|[1-9][0-9]{0,19})\n\Z")


class WitnessUnavailable(Exception):
    """The witness could not be asked now (network, timeout, 5xx): retry later."""


class WitnessRefused(Exception):
    """The witness answered and will not cosign this checkpoint (its status says why)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Conflict:
    """409: the witness last cosigned a tree of `size` (not the `old` sent)."""

    size: int


def request_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The add-checkpoint request body."""
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof of {len(proof)} hashes is more than a witness accepts")
    lines = [f"old {old_size}\n", *(base64.b64encode(item).decode("ascii") + "\n" for item in proof), "\n"]
    return "".join(lines).encode("utf-8") + note.encode("utf-8")


def parse_size(body: bytes) -> int:
    """The tree size in a 409 text/x.tlog.size answer."""
    text = body.decode("ascii", errors="replace")
    if not _SIZE.match(text):
        raise WitnessRefused(409, f"a 409 whose body is not a tree size: {text[:40]!r}")
    return int(text)


def cosignature_of(answer: bytes, body: str, witness: cosignature.WitnessKey) -> cosignature.Cosignature:
    """The witness's cosignature among the lines of a 200 answer, verified over `body`."""
    try:
        lines = cosignature.signature_lines(answer.decode("utf-8"))
    except (UnicodeDecodeError, signed_note.NoteError) as exc:
        raise WitnessRefused(200, f"the answer is not cosignature lines: {exc}") from exc
    found = cosignature.verified(body, lines, [witness])
    if str(witness) not in found:
        raise WitnessRefused(200, f"no line in the answer is a valid cosignature by {witness.name}")
    return found[str(witness)]


def post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """POST to `<url>/add-checkpoint`: (status, content type, body); WitnessUnavailable on failure."""
    request = urllib.request.Request(
        url.rstrip("/") + "/add-checkpoint",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": "cairn-log"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            return response.status, response.headers.get_content_type(), response.read(MAX_RESPONSE)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get_content_type(), exc.read(MAX_RESPONSE)
    except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
        raise WitnessUnavailable(f"{url}: {exc}") from exc


def request_cosignature(
    url: str, witness: cosignature.WitnessKey, note: str, old_size: int, proof: list[bytes], *, timeout: float
) -> cosignature.Cosignature | Conflict:
    """One add-checkpoint exchange: the cosignature, or the witness's size on 409."""
    status, content_type, answer = post(url, request_body(old_size, proof, note), timeout)
    if status == 200:
        body, _signatures = signed_note.split_note(note)
        return cosignature_of(answer, body, witness)
    if status == 409 and content_type == SIZE_MEDIA_TYPE:
        return Conflict(parse_size(answer))
    if status >= 500 or status == 429:
        raise WitnessUnavailable(f"{url} answered {status}")
    raise WitnessRefused(status, answer[:200].decode("utf-8", errors="replace").strip() or "no reason given")


def cosign_from(
    url: str,
    witness: cosignature.WitnessKey,
    note: str,
    old_size: int,
    proof_from: Callable[[int], list[bytes]],
    *,
    timeout: float,
) -> cosignature.Cosignature:
    """Ask from `old_size`; on 409 ask once more from the size the witness names.

    `proof_from(size)` is the consistency proof from `size` to the note's
    tree (raising ValueError when the log cannot prove it: a witness that
    holds a tree this log never had).
    """
    answer = request_cosignature(url, witness, note, old_size, proof_from(old_size), timeout=timeout)
    if isinstance(answer, Conflict):
        try:
            proof = proof_from(answer.size)
        except ValueError as exc:
            message = f"the witness holds size {answer.size}, which this log cannot prove: {exc}"
            raise WitnessRefused(409, message) from exc
        answer = request_cosignature(url, witness, note, answer.size, proof, timeout=timeout)
    if isinstance(answer, Conflict):
        raise WitnessRefused(409, f"the witness moved on to size {answer.size} meanwhile")
    return answer
