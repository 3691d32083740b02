"""A real `choujian serve` in a subprocess, for the tests that must go through sockets, workers and start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(env: dict[str, str], args: Sequence[str] = (), *, ready_s: float = 120) -> Iterator[tuple[str, int]]:
    """`choujian serve ARGS` with `env` on top of this process's environment, on a free port; yields the base
    URL and the server's pid once `/readyz` answers 200, and stops it afterwards."""
    port = free_port()
    cli = str(Path(sys.executable).with_name("choujian"))
    cmd = [cli, "serve", "--port", str(port), "--log-level", "warning", *args]
    server = subprocess.Popen(cmd, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.3)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
