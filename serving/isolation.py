"""Run one heavy piece of request work in a forked child, so that it does not take the interpreter from the
requests the same process is serving.

Drawing a large plan and explaining each of its purchases is seconds of mostly-Python work. In the serving
process it would hold the GIL against every scoring request meanwhile (measured: a 1,000,000-yuan plan with
one worker tripled scoring's p50). A child forked from the warm process already holds the model and the
scored market (copy-on-write: nothing is loaded again), computes the result on its own core, sends it back
pickled through a pipe and exits; the parent's thread waits on the pipe without the GIL.

What makes the fork safe here: the child runs only the function it is given, on data the parent had already
built, and leaves with `os._exit` (no atexit, no finalisers, no flush of the parent's buffers). The libraries
it uses re-initialise what a fork breaks: LightGBM's threads (`models.risk`), the ONNX Runtime session and the
review score store (remade in a new process), logging's locks (CPython). It touches no database connection.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: whether this platform can fork at all (POSIX); elsewhere the work runs in the calling thread
CAN_FORK = hasattr(os, "fork")


class ChildFailed(RuntimeError):
    """The child died, was killed or did not answer in time (the reason is the message)."""


#: prctl(2) option: the signal this process gets when its parent (the thread that forked it) terminates
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this child when the thread that forked it ends: a server stopped while
    it scores its market (which takes a minute) leaves no orphan computing on. Elsewhere, nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent was already gone before the request took effect
        os._exit(0)


def _child(fn: Callable[[], T], w: int, parent: int) -> None:
    try:
        _die_with_parent(parent)
        try:
            payload = pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as e:  # the parent re-raises it: a client's mistake stays the client's 4xx
            try:
                payload = pickle.dumps((False, e), protocol=pickle.HIGHEST_PROTOCOL)
                pickle.loads(payload)  # an exception whose class cannot be rebuilt from its args fails here
            except Exception:  # then its text travels
                payload = pickle.dumps((False, ChildFailed(f"{type(e).__name__}: {e}")))
        view = memoryview(payload)
        while view:
            view = view[os.write(w, view) :]
    finally:
        os._exit(0)


def _read_all(r: int, pid: int, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            raise ChildFailed(f"no answer within {timeout_s:.0f} s")
        ready, _, _ = select.select([r], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(r, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def run_forked(fn: Callable[[], T], *, timeout_s: float = 600.0) -> T:
    """`fn()` computed in a forked child; its exception, if it raised one, is raised here.

    Raises `ChildFailed` when the child dies without an answer or takes longer than `timeout_s` (it is
    killed). Without `os.fork` (not POSIX), `fn()` simply runs here.
    """
    if not CAN_FORK:
        return fn()
    r, w = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child
        os.close(r)
        _child(fn, w, parent)
    os.close(w)
    try:
        data = _read_all(r, pid, timeout_s)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if not data:
        raise ChildFailed(f"the child ended without an answer (wait status {status})")
    ok, value = pickle.loads(data)
    if ok:
        return value
    raise value
