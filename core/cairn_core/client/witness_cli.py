"""`cairn witness`: run Cairn's C2SP tlog-witness (contract §10), or print its vkey.

    cairn witness vkey --key PEM --name NAME
    cairn witness serve --key PEM --log VKEY [--log VKEY]… --state DIR --listen HOST:PORT
                        [--init --name NAME]

The protocol is `cairn_core.tlog_witness`; the HTTP server and the
operator's notes are in `cairn_core.client.witness_server`. Needs click (the
client extra) and nothing else of it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from cairn_core import cosignature, signed_note
from cairn_core.client import keys as keyfiles
from cairn_core.client import witness_server
from cairn_core.signed_note import NoteError, Verifier
from cairn_core.tlog_witness import StateError, Witness, WitnessState, owner_of


@click.group()
def witness() -> None:
    """Witness Cairn logs (C2SP tlog-witness): cosign checkpoints that extend the last."""


@witness.command()
@click.option("--key", "key_path", required=True, help="The witness's Ed25519 key, PKCS#8 PEM.")
@click.option("--name", required=True, help="The witness's name, e.g. example.com/witness.")
def vkey(key_path: str, name: str) -> None:
    """Print the witness's vkey, for the log operator's LEDGER_WITNESSES."""
    try:
        click.echo(cosignature.vkey(name, cosignature.public_key_of(keyfiles.load(key_path))))
    except (keyfiles.KeyFileError, NoteError) as exc:
        raise click.ClickException(str(exc)) from exc


@witness.command()
@click.option("--key", "key_path", required=True, help="The witness's Ed25519 key, PKCS#8 PEM.")
@click.option("--log", "log_keys", multiple=True, required=True, help="A trusted log key (verifier string).")
@click.option("--state", "state_dir", required=True, help="The state directory.")
@click.option("--listen", default="127.0.0.1:9101", show_default=True, help="HOST:PORT (port 0: any free port).")
@click.option("--init", "init", is_flag=True, help="First start only: create the state directory.")
@click.option("--name", help="The witness's name: with --init; later read from the state directory.")
def serve(key_path: str, log_keys: tuple[str, ...], state_dir: str, listen: str, init: bool, name: str | None) -> None:
    """Serve POST /add-checkpoint until SIGTERM or SIGINT.

    The state directory records the latest checkpoint cosigned per log and
    must outlive the witness: it is created only with --init, and a witness
    whose state is lost must be retired under a new key."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    host, port = _address(listen)
    try:
        the_witness = _witness(key_path, log_keys, state_dir, init, name)
    except (keyfiles.KeyFileError, NoteError, StateError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        server = witness_server.bind(the_witness, host, port)
    except OSError as exc:
        the_witness.state.close()
        raise click.ClickException(f"cannot listen on {listen}: {exc.strerror}") from exc
    click.echo(f"witness {the_witness.vkey} listening on {server.url}")
    sys.stdout.flush()
    try:
        witness_server.serve(server)
    finally:
        the_witness.state.close()


def _witness(key_path: str, log_keys: tuple[str, ...], state_dir: str, init: bool, name: str | None) -> Witness:
    key = keyfiles.load(key_path)
    logs = [_log_key(text) for text in log_keys]
    name = name or _recorded_name(state_dir, init)
    identity = cosignature.vkey(name, cosignature.public_key_of(key))
    origins = {log.name for log in logs}
    state = (WitnessState.create if init else WitnessState.open)(state_dir, identity, origins)
    return Witness(name, key, logs, state)


def _recorded_name(state_dir: str, init: bool) -> str:
    """The witness's name, as its state directory records it (--init needs --name)."""
    if init:
        raise click.UsageError("--init needs --name: the witness's name, e.g. example.com/witness")
    path = Path(state_dir)
    if not path.is_dir():
        raise StateError(f"the state directory {path} does not exist: give --init and --name to create it")
    return cosignature.parse_vkey(owner_of(path)).name


def _log_key(text: str) -> Verifier:
    try:
        return signed_note.parse_verifier(text.strip())
    except NoteError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint="--log") from exc


def _address(listen: str) -> tuple[str, int]:
    host, separator, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
    return host, int(port)
