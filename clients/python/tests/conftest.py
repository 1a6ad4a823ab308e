"""Starts one ``defender-bridge demo`` for the test session, on a free loopback port.

``DEFENDER_BRIDGE_ADDR`` (``host:port``) points the tests at a server that is already running
instead; ``DEFENDER_BRIDGE_BIN`` names the binary (default ``<repo>/target/debug/defender-bridge``).

The TLS tests start their own ``demo --tls --tls-dir DIR`` (TLS, client certificates required,
a callers file with an API key), unless ``DEFENDER_BRIDGE_TLS_ADDR`` (``host:port``) and
``DEFENDER_BRIDGE_TLS_DIR`` (the ``--tls-dir`` of a running ``demo --tls``) are both set.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Optional

import pytest

from defender_bridge_client import Client, connect

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_LINE = "Press Ctrl-C to stop."
START_TIMEOUT_SECONDS = 60.0


@dataclass
class Demo:
    """A server to test against: its address and, when the banner named one, a fleet machine id."""

    address: str
    sample_machine_id: Optional[str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_demo(
    binary: str, log: IO[bytes], extra: list[str]
) -> tuple[subprocess.Popen[str], str]:
    """Starts the demo and returns it with its banner, or raises with the server's log."""
    port = _free_port()
    process = subprocess.Popen(
        [binary, "demo", "--listen", f"127.0.0.1:{port}", "--machines", "300", *extra],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    banner: list[str] = []
    ready = threading.Event()

    def read_banner() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if READY_LINE in line:
                ready.set()
        # Keep draining is not needed: the demo prints nothing after the banner.

    threading.Thread(target=read_banner, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            log.seek(0)
            raise RuntimeError(
                f"defender-bridge demo did not start (exit {process.returncode}):\n"
                + "".join(banner)
                + log.read().decode(errors="replace")
            )
    return process, "".join(banner)


def _binary() -> str:
    binary = os.environ.get(
        "DEFENDER_BRIDGE_BIN", str(REPO_ROOT / "target" / "debug" / "defender-bridge")
    )
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is not an executable: run `cargo build` or set DEFENDER_BRIDGE_BIN")
    return binary


@contextlib.contextmanager
def _running_demo(extra: list[str]) -> Iterator[str]:
    """Runs a demo with ``extra`` arguments for the ``with`` block; yields its banner."""
    binary = _binary()
    with tempfile.TemporaryFile() as log:
        # A free port can be taken between the probe and the bind: try a few.
        for attempt in range(3):
            try:
                process, banner = _start_demo(binary, log, extra)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        try:
            yield banner
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _parse(banner: str) -> Demo:
    listen = re.search(r"gRPC service:\s+(\S+)", banner)
    machine = re.search(r'"machine_id":\s*"([0-9a-fA-F]{40})"', banner)
    assert listen, f"no address in the demo banner:\n{banner}"
    return Demo(listen.group(1), machine.group(1) if machine else None)


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    address = os.environ.get("DEFENDER_BRIDGE_ADDR")
    if address:
        yield Demo(address, os.environ.get("DEFENDER_BRIDGE_MACHINE_ID"))
        return
    with _running_demo([]) as banner:
        yield _parse(banner)


@dataclass
class TlsDemo:
    """A ``demo --tls`` server: its address, a fleet machine and the files it wrote."""

    address: str
    sample_machine_id: Optional[str]
    #: The ``--tls-dir`` folder: ca.pem, client.pem, client.key, api-key, ...
    files: Path

    @property
    def api_key(self) -> str:
        """The demo's API key (identity ``key:demo``, every role)."""
        return (self.files / "api-key").read_text().strip()


@pytest.fixture(scope="session")
def tls_demo() -> Iterator[TlsDemo]:
    address = os.environ.get("DEFENDER_BRIDGE_TLS_ADDR")
    files = os.environ.get("DEFENDER_BRIDGE_TLS_DIR")
    if address and files:
        yield TlsDemo(address, os.environ.get("DEFENDER_BRIDGE_MACHINE_ID"), Path(files))
        return
    with tempfile.TemporaryDirectory() as folder:
        with _running_demo(["--tls", "--tls-dir", folder]) as banner:
            plain = _parse(banner)
            yield TlsDemo(plain.address, plain.sample_machine_id, Path(folder))


@pytest.fixture()
def client(demo: Demo) -> Iterator[Client]:
    with connect(demo.address) as client:
        yield client
