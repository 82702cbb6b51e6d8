"""Start and stop the local emulators the Azure tests use: Azurite (Blob) and the Cosmos server.

Both bind to 127.0.0.1 on free ports, log to files in a work folder, and are killed on exit.
Used by ``tests/azure/conftest.py`` (as a context manager) and by hand::

    python scripts/emulators.py start   # prints the env vars to export, keeps running
    python scripts/emulators.py stop    # stops the emulators started by `start`

Requires ``npm ci`` in the repository root (``make node_modules``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# The Cosmos emulator accepts any key; this one is the public emulator key format.
COSMOS_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
STATE_FILE = Path(tempfile.gettempdir()) / "visitrank-emulators.json"


class EmulatorError(RuntimeError):
    """An emulator did not start; the message includes the tail of its log."""


@dataclass(frozen=True)
class Emulators:
    """Where the running emulators listen."""

    blob_port: int
    cosmos_port: int
    log_dir: Path

    @property
    def blob_connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT};"
        )

    @property
    def cosmos_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.cosmos_port}/"

    def env(self) -> dict[str, str]:
        """The app settings that point visitrank at these emulators."""
        return {
            "VISITRANK_BLOB_CONNECTION_STRING": self.blob_connection_string,
            "VISITRANK_COSMOS_ENDPOINT": self.cosmos_endpoint,
            "VISITRANK_COSMOS_KEY": COSMOS_KEY,
            "VISITRANK_COSMOS_VERIFY_TLS": "false",
        }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until ``port`` accepts connections; raise with the log tail on exit or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(f"exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise EmulatorError(f"not listening on {port} after {timeout:.0f}s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we kill the group, nothing else
    )


def _stop_all(processes: list[subprocess.Popen[bytes]], grace: float = 3.0) -> None:
    """SIGTERM every emulator's process group, then SIGKILL what is left after ``grace``."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _check_installed() -> None:
    if not (BIN / "azurite-blob").exists() or not (ROOT / "node_modules/@vercel").exists():
        raise EmulatorError("emulators not installed: run `npm ci` (or `make node_modules`)")


@contextlib.contextmanager
def running_emulators(log_dir: Path, timeout: float = 60.0) -> Iterator[Emulators]:
    """Start Azurite and the Cosmos server on free ports; stop both on exit."""
    _check_installed()
    log_dir.mkdir(parents=True, exist_ok=True)
    blob_port, cosmos_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        azurite_log = log_dir / "azurite.log"
        processes.append(
            _spawn(
                [
                    str(BIN / "azurite-blob"),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(blob_port),
                    "--skipApiVersionCheck",
                    "--loose",
                    "--silent",
                    "--inMemoryPersistence",
                ],
                azurite_log,
            )
        )
        cosmos_log = log_dir / "cosmos.log"
        processes.append(
            _spawn(
                ["node", str(ROOT / "scripts" / "cosmos-emulator.js"), str(cosmos_port)],
                cosmos_log,
            )
        )
        wait_for_port(blob_port, processes[0], azurite_log, timeout)
        wait_for_port(cosmos_port, processes[1], cosmos_log, timeout)
        yield Emulators(blob_port=blob_port, cosmos_port=cosmos_port, log_dir=log_dir)
    finally:
        _stop_all(processes)


def main(argv: list[str]) -> int:
    """CLI: ``start`` (foreground, Ctrl-C or ``stop`` to end) or ``stop``."""
    command = argv[1] if len(argv) > 1 else "start"
    if command == "stop":
        if not STATE_FILE.exists():
            print("no emulators recorded as running")
            return 0
        pid = json.loads(STATE_FILE.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        STATE_FILE.unlink(missing_ok=True)
        print(f"stopped emulator supervisor {pid}")
        return 0
    log_dir = Path(tempfile.mkdtemp(prefix="visitrank-emulators-"))
    stop = {"now": False}

    def _handle(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    with running_emulators(log_dir) as emulators:
        STATE_FILE.write_text(json.dumps({"pid": os.getpid(), **emulators.env()}))
        for name, value in emulators.env().items():
            print(f"export {name}='{value}'")
        print(f"# logs in {log_dir}; stop with: python scripts/emulators.py stop", flush=True)
        while not stop["now"]:
            time.sleep(0.5)
    STATE_FILE.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
