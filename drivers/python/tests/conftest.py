"""Shared fixtures: where the repository and the Rust binary are, and free
zenoh loopback ports (17500-17599, this kit's range)."""

import os
import socket
import sys
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[1]
REPO = KIT.parents[1]

# Test this source tree, not whatever copy pip installed last; the example
# driver the tests start as a subprocess imports it too.
sys.path.insert(0, str(KIT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(KIT), os.environ.get("PYTHONPATH")]))
PORTS = range(17500, 17600)
_next = [PORTS.start + (os.getpid() % 20) * 5]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def endpoint() -> str:
    """A zenoh meeting endpoint on a loopback port nobody listens on."""
    for _ in range(len(PORTS)):
        port = _next[0]
        _next[0] = PORTS.start + (port + 1 - PORTS.start) % len(PORTS)
        if _free(port):
            return f"tcp/127.0.0.1:{port}"
    pytest.fail("no free port in 17500-17599")


@pytest.fixture
def repo() -> Path:
    """The repository root (docs/PROTOCOL.md, configs/)."""
    return REPO


@pytest.fixture
def umwelt_bin() -> str:
    """The Rust ``umwelt`` binary named by ``UMWELT_BIN``; the test is
    skipped, visibly, when it is not there."""
    path = os.environ.get("UMWELT_BIN")
    if not path:
        pytest.skip(
            "UMWELT_BIN is not set: build umwelt (cargo build --release -p umwelt-runtime "
            "--bin umwelt) and point UMWELT_BIN at it to run the Rust end-to-end tests"
        )
    if not os.access(path, os.X_OK):
        pytest.skip(f"UMWELT_BIN={path} is not an executable file")
    return path
