"""The HTTP side of the SDK: `Client(url, token)` speaks Cairn's API (contract §5, §9)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypedDict, Unpack, cast

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core.client import keys as keyfiles
from cairn_core.client import statements, wire
from cairn_core.client.statements import Document
from cairn_core.dsse import StoredEnvelope
from cairn_core.payload import JSONObject, PayloadError

MAX_BATCH = 1000


class CairnError(Exception):
    """A refusal from the server: its HTTP status and the contract's error
    code and message (and `head` for stale_head), or a connection failure
    (status 0, code `unreachable`)."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After

    @classmethod
    def from_body(cls, status: int, body: JSONObject) -> CairnError:
        """The error of a refusal's body (§6), whatever JSON object it is."""
        error = dict(body.get("error") or {})
        code = error.pop("code", "server_error" if status >= 500 else "bad_request")
        message = error.pop("message", "")
        return cls(status, code, message, **error)

    @property
    def error(self) -> wire.ErrorBody:
        """The refusal as §6's `error`: code, message and the other fields the server sent."""
        # extra is what the body held beside code and message (`head` with
        # stale_head): its names are the server's, so mypy cannot see them.
        return cast(wire.ErrorBody, {"code": self.code, "message": self.message, **self.extra})

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "code": self.code, "message": self.message, **self.extra}

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        extra = "".join(f" ({name}: {value})" for name, value in self.extra.items())
        return f"{self.code} ({where}): {self.message}{extra}"


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a Retry-After header asks to wait (RFC 9110 §10.2.3: seconds
    or an HTTP date), or None without a readable one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, said without an offset
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class SignOptions(TypedDict, total=False):
    """What `Client.sign` takes besides the statement and key."""

    issuer: str | None
    cosigners: Iterable[Ed25519PrivateKey]


class Prover(Protocol):
    """What `Client.prove` hands the work to: a client.witness.Witness."""

    def prove(self, client: Client, index: int, /) -> wire.Proven: ...


class Client:
    """Cairn's API for a supplier, manufacturer or certifier.

        client = Client("https://cairn.example", token)
        receipt = client.post(statement, key=key)      # signs, posts, returns the receipt
        results = client.post_batch([...], key=key)    # up to 1000, one result each

    Every refusal raises CairnError with the contract's code. `retry_rate_limited`
    waits out 429 answers (Retry-After) that many times before raising.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry_rate_limited: int = 0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.retry_rate_limited = retry_rate_limited
        self._own: str | None = None  # the token's organisation, once asked
        # Told the seconds it waits before each retry of a 429 (`cairn import` prints them).
        self.on_rate_limited: Callable[[float], None] = lambda seconds: None
        # Set to stop waiting out 429s at once (Ctrl-C in `cairn import`): the
        # request then raises the 429 it has, from whichever thread waits.
        self.stop_waiting = threading.Event()
        headers = {"Authorization": f"Token {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------

    def request(
        self, method: str, path: str, *, body: bytes | None = None, params: dict[str, int | str] | None = None
    ) -> httpx.Response:
        """The response of `method path`; CairnError unless 2xx."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(self.retry_rate_limited + 1):
            try:
                response = self.http.request(method, path, content=body, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise CairnError(0, "unreachable", f"{self.url}: {exc}") from exc
            if response.status_code == 429 and attempt < self.retry_rate_limited:
                wait = retry_after(response)
                wait = 1.0 if wait is None else wait
                self.on_rate_limited(wait)
                if not self.stop_waiting.wait(wait):
                    continue
            break
        if response.is_success:
            return response
        try:
            error = response.json()
        except ValueError:
            error = {"error": {"message": response.text[:200] or response.reason_phrase}}
        refusal = CairnError.from_body(response.status_code, error if isinstance(error, dict) else {})
        refusal.retry_after = retry_after(response)
        raise refusal

    # The bodies below are the contract's shapes (cairn_core.client.wire),
    # taken on trust from the server: `cast` names the shape, checks nothing.

    def get_json(self, path: str, **params: int | str) -> JSONObject:
        body: JSONObject = self.request("GET", path, params=params or None).json()
        return body

    def post_json(self, path: str, document: object | None = None) -> JSONObject:
        body = b"" if document is None else json.dumps(document).encode("utf-8")
        answer: JSONObject = self.request("POST", path, body=body).json()
        return answer

    # --- keys -----------------------------------------------------------------

    def register_key(self, key: Ed25519PrivateKey) -> wire.KeyBody:
        """POST /keys: `{"keyid", "organization", "registered_at", "revoked_at"}`."""
        return cast(wire.KeyBody, self.post_json("/keys", {"public_key": keyfiles.public_key_b64(key)}))

    def revoke_key(self, keyid: str) -> wire.KeyBody:
        return cast(wire.KeyBody, self.post_json(f"/keys/{keyid}/revoke"))

    # --- statements -------------------------------------------------------------

    def head(self, batch_id: str) -> str:
        """The batch's current head (its latest entry's entry_hash)."""
        return self.batch(batch_id)["head"]

    def sign(
        self,
        statement: Document,
        key: Ed25519PrivateKey,
        *,
        fill_prev: bool = False,
        issuer: str | None = None,
        cosigners: Iterable[Ed25519PrivateKey] = (),
    ) -> StoredEnvelope:
        """The signed envelope; with `fill_prev`, missing `prev` fields take the
        server's heads. A statement naming no issuer, signed without
        `issuer`, is issued by the token's organisation (GET /organization)."""
        if not issuer and not statement.get("issuer"):
            issuer = self.own_organization()
        if fill_prev:
            statement = statements.fill_prevs(statement, self.head)
        try:
            return statements.sign(statement, key, issuer=issuer, cosigners=cosigners)
        except PayloadError as exc:  # refused here as the server would refuse it, before signing
            raise CairnError(400, "invalid_payload", f"Invalid payload (not signed): {exc}.") from exc

    def post(
        self,
        item: Document,
        *,
        key: Ed25519PrivateKey | None = None,
        fill_prev: bool = False,
        **sign_options: Unpack[SignOptions],
    ) -> wire.Receipt:
        """POST /attestations: `item` is an envelope, or a statement signed here
        with `key`. Returns the receipt with its `status` (201 new, 200 re-post)."""
        status, receipt = self.submit(item, key=key, fill_prev=fill_prev, **sign_options)
        return {"status": status, **receipt}

    def submit(
        self,
        item: Document,
        *,
        key: Ed25519PrivateKey | None = None,
        fill_prev: bool = False,
        **sign_options: Unpack[SignOptions],
    ) -> tuple[int, wire.EntryReceipt]:
        """`post`, with the status (201 new, 200 re-post) beside the receipt."""
        envelope = item if statements.is_envelope(item) else self._signed(item, key, fill_prev, sign_options)
        response = self.request("POST", "/attestations", body=json.dumps(envelope).encode("utf-8"))
        return response.status_code, cast(wire.EntryReceipt, response.json())

    def post_batch(
        self,
        items: Sequence[Document],
        *,
        key: Ed25519PrivateKey | None = None,
        fill_prev: bool = False,
        chain: bool = False,
        **sign_options: Unpack[SignOptions],
    ) -> list[wire.BatchResult]:
        """POST /attestations/batch: up to 1000 envelopes or statements, appended
        in order; one result each, `{"status", "entry"}` or `{"status", "error"}`.

        With `chain`, a statement's missing `prev` takes the head an earlier
        item of the same batch leaves on its batch (contract §9 appends them
        in order, so a batch may create a batch and then transfer it), else,
        with `fill_prev`, the server's current head."""
        if not 1 <= len(items) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} envelopes")
        envelopes: list[Document]
        if chain:
            envelopes = self._chained(items, key, fill_prev, sign_options)
        else:
            envelopes = [
                item if statements.is_envelope(item) else self._signed(item, key, fill_prev, sign_options)
                for item in items
            ]
        return cast(list[wire.BatchResult], self._envelopes("/attestations/batch", envelopes))

    def validate_batch(self, envelopes: Sequence[Document]) -> list[wire.BatchResult]:
        """POST /attestations/validate: what `post_batch` would answer for these
        envelopes against the ledger as it stands, with nothing appended; a
        would-be 201 is `{"status": 201, "entry_hash"}` (contract §5 v1.2)."""
        if not 1 <= len(envelopes) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} envelopes")
        return cast(list[wire.BatchResult], self._envelopes("/attestations/validate", envelopes))

    def _envelopes(self, path: str, envelopes: Sequence[Document]) -> list[object]:
        body = b'{"envelopes":[' + b",".join(json.dumps(e).encode("utf-8") for e in envelopes) + b"]}"
        answer: JSONObject = self.request("POST", path, body=body).json()
        return cast(list[object], answer["results"])

    def _chained(
        self, items: Sequence[Document], key: Ed25519PrivateKey | None, fill_prev: bool, options: SignOptions
    ) -> list[Document]:
        """Sign in order, each missing `prev` from the heads the earlier items leave."""
        heads: dict[str, str] = {}

        def head_of(batch: str) -> str:
            if batch in heads:
                return heads[batch]
            if fill_prev:
                return self.head(batch)
            raise ValueError(f"no earlier item of the batch touches {batch}: give its prev, or pass fill_prev=True")

        envelopes: list[Document] = []
        for item in items:
            envelope = (
                item
                if statements.is_envelope(item)
                else self._signed(statements.fill_prevs(item, head_of), key, False, options)
            )
            statement, leaves = statements.statement_of(envelope), statements.entry_hash(envelope)
            for batch in [batch for _, batch in statements.named_batches(statement)] + statements.created_batches(
                statement
            ):
                heads[batch] = leaves
            envelopes.append(envelope)
        return envelopes

    def _signed(
        self, statement: Document, key: Ed25519PrivateKey | None, fill_prev: bool, options: SignOptions
    ) -> StoredEnvelope:
        if key is None:
            raise ValueError("a statement needs a key to be signed (or pass a signed envelope)")
        return self.sign(statement, key, fill_prev=fill_prev, **options)

    # --- reads ------------------------------------------------------------------

    def batch(self, batch_id: str) -> wire.Batch:
        return cast(wire.Batch, self.get_json(f"/batches/{batch_id}"))

    def provenance(self, batch_id: str) -> wire.Provenance:
        return cast(wire.Provenance, self.get_json(f"/batches/{batch_id}/provenance"))

    def entry(self, index: int) -> wire.Entry:
        return cast(wire.Entry, self.get_json(f"/attestations/{int(index)}"))

    def entries(self, *, after: int = -1, limit: int = 100) -> wire.EntryPage:
        """GET /attestations: one page of the entries you may read."""
        return cast(wire.EntryPage, self.get_json("/attestations", after=int(after), limit=int(limit)))

    def all_entries(self, *, after: int = -1, limit: int = 1000) -> Iterator[wire.Entry]:
        """Every entry you may read after `after`, page by page."""
        cursor: int | None = after
        while cursor is not None:
            page = self.entries(after=cursor, limit=limit)
            yield from page["entries"]
            cursor = page["next"]

    def batches(self, *, custodian: str | None = None, after: str = "", limit: int = 100) -> wire.BatchPage:
        """GET /batches: one page of the batches in `custodian`'s custody (default: yours)."""
        params: dict[str, int | str] = {"limit": int(limit)}
        params |= {"custodian": custodian} if custodian else {}
        params |= {"after": after} if after else {}
        return cast(wire.BatchPage, self.get_json("/batches", **params))

    def all_batches(self, *, custodian: str | None = None, limit: int = 1000) -> Iterator[wire.BatchSummary]:
        cursor: str | None = ""
        while cursor is not None:
            page = self.batches(custodian=custodian, after=cursor, limit=limit)
            yield from page["batches"]
            cursor = page["next"]

    def organization(self) -> wire.Organization:
        """GET /organization: the organisation this client's token belongs to."""
        return cast(wire.Organization, self.get_json("/organization"))

    def own_organization(self) -> str:
        """The slug of the token's organisation (asked once): the issuer of
        the statements this client signs that name none."""
        if self._own is None:
            try:
                self._own = self.organization()["slug"]
            except CairnError as exc:
                raise CairnError(
                    exc.status or 400,
                    "invalid_payload",
                    "The statement names no issuer, and the server did not say whose token this is "
                    f"({exc.code}: {exc.message}): give the issuer (--issuer, CAIRN_ISSUER).",
                ) from exc
        return self._own

    def keys(self) -> wire.KeyList:
        """GET /keys: your organisation's keys (an auditor: every organisation's)."""
        return cast(wire.KeyList, self.get_json("/keys"))

    # --- the log ------------------------------------------------------------------

    def log_key(self) -> wire.LogKey:
        return cast(wire.LogKey, self.get_json("/log/key"))

    def checkpoint(self) -> str:
        return self.request("GET", "/log/checkpoint").text

    def inclusion_proof(self, index: int, tree_size: int) -> wire.InclusionProof:
        return cast(wire.InclusionProof, self.get_json("/log/proof/inclusion", index=index, tree_size=tree_size))

    def consistency_proof(self, first: int, second: int) -> wire.ConsistencyProof:
        return cast(wire.ConsistencyProof, self.get_json("/log/proof/consistency", first=first, second=second))

    def prove(self, index: int, witness: Prover) -> wire.Proven:
        """Prove entry `index` in the log and check the log against what
        `witness` (a client.witness.Witness) saw before; see that module."""
        return witness.prove(self, index)
