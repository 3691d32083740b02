"""Plans drawn in a forked child (`serving.isolation`): the same plan as in the request's thread, the
client's mistakes still 4xx, and a child that dies or hangs is an error, not a hang."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from serving import isolation
from serving.service import RequestProblem, SmallRandomArm

pytestmark = pytest.mark.skipif(not isolation.CAN_FORK, reason="needs os.fork")


def test_the_work_runs_in_another_process_and_its_result_comes_back() -> None:
    parent = os.getpid()
    pid, payload = isolation.run_forked(lambda: (os.getpid(), {"x": list(range(100_000))}))
    assert pid != parent and payload["x"][-1] == 99_999  # more than one pipe buffer


def test_a_request_problem_keeps_its_field_and_status() -> None:
    def bad() -> None:
        raise RequestProblem(["body", "budget"], "too much", status_code=409)

    with pytest.raises(RequestProblem) as info:
        isolation.run_forked(bad)
    assert (info.value.loc, info.value.msg, info.value.status_code, str(info.value)) == (
        ["body", "budget"],
        "too much",
        409,
        "too much",
    )
    assert SmallRandomArm.__reduce__ is RequestProblem.__reduce__


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # not rebuildable from its args
        super().__init__(f"{a}/{b}")


def test_an_exception_that_cannot_travel_arrives_as_its_text() -> None:
    def odd() -> None:
        raise _Odd(1, 2)

    with pytest.raises(isolation.ChildFailed, match="_Odd: 1/2"):
        isolation.run_forked(odd)


def test_a_child_that_dies_or_hangs_is_an_error() -> None:
    with pytest.raises(isolation.ChildFailed, match="without an answer"):
        isolation.run_forked(lambda: os._exit(3))
    t = time.monotonic()
    with pytest.raises(isolation.ChildFailed, match="within 1 s"):
        isolation.run_forked(lambda: time.sleep(30), timeout_s=1)
    assert time.monotonic() - t < 10


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="the kernel's parent-death signal is Linux's")
def test_a_child_does_not_outlive_the_process_that_waits_for_it(tmp_path: Any) -> None:
    """A server stopped while its child works (the start-up scoring takes a minute) leaves no orphan."""
    import multiprocessing as mp

    pid_file = tmp_path / "child.pid"

    def child_work() -> None:
        pid_file.write_text(str(os.getpid()))
        time.sleep(120)

    def waiting_process() -> None:
        isolation.run_forked(child_work, timeout_s=300)

    waiter = mp.get_context("fork").Process(target=waiting_process)
    waiter.start()
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    waiter.kill()
    waiter.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return  # gone (reaped by init)
        with open(f"/proc/{child}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                return  # killed, waiting for init to reap it
        time.sleep(0.05)
    os.kill(child, 9)
    raise AssertionError("the child outlived the process that forked it")


def _plan(start_app: Any, isolated: bool, **body: Any) -> Any:
    with start_app(plan_isolation=isolated) as api:
        return api.client.post("/v1/plans", json=body, headers=api.as_("planner"))


def test_a_plan_drawn_in_a_child_equals_one_drawn_in_the_thread(start_app: Any) -> None:
    body = {"budget": 30000, "epsilon": 0.3, "seed": 4, "per_merchant_cap": 2}
    forked, threaded = (_plan(start_app, iso, **body) for iso in (True, False))
    assert forked.status_code == threaded.status_code == 201, forked.text
    a, b = forked.json(), threaded.json()
    assert a["targets"] and a["targets"] == b["targets"]  # listings, arms, inclusion probabilities, reasons
    for plan in (a, b):  # what differs between any two stored plans
        del plan["plan_id"], plan["created_at"], plan["created_by"], plan["design"]["plan_id"]
    assert a == b
    # a client's mistake found in the child is still the client's 422 naming the field
    r = _plan(start_app, True, budget=30000, epsilon=0.3, require_estimate=True)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "budget"], r.text
