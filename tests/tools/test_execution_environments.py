"""The local stack's execution environments: concurrent invocations never share what a cold start builds, and
nothing of the product or of os.environ is changed to give each its own."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from heymarket_local.lambdas import ExecutionEnvironments, LocalFunction
from heymarket_local.template import StackTemplate


def test_concurrent_invocations_build_their_own_instance_and_later_ones_reuse_an_idle_environment() -> None:
    environments: ExecutionEnvironments[object] = ExecutionEnvironments(object)
    both_running = threading.Barrier(2)
    seen: list[object] = []
    lock = threading.Lock()

    def handler(environment: object) -> None:
        both_running.wait(timeout=5)  # the two invocations overlap, as two concurrent Lambda invocations
        with lock:
            seen.append(environment)

    threads = [threading.Thread(target=environments.invoke, args=(handler,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(instance) for instance in seen}) == 2
    assert environments.created == 2

    later: list[object] = []
    environments.invoke(later.append)
    assert later[0] in seen  # a warm environment: no new cold start
    assert environments.created == 2


def test_a_shared_environment_serves_every_invocation_from_one_cold_start() -> None:
    environments: ExecutionEnvironments[object] = ExecutionEnvironments(object, shared=True)

    seen = [environments.invoke(lambda environment: environment) for _ in range(3)]

    assert len({id(instance) for instance in seen}) == 1
    assert environments.created == 1


def test_each_environment_loads_its_own_handler_module_over_its_variables_without_touching_the_process() -> None:
    import heymarket_bridge.app.sync as composition_root

    root_before = dict(vars(composition_root))
    environ_before = dict(os.environ)
    modules_before = set(sys.modules)
    spec = StackTemplate.load().function("SyncFunction")
    function = LocalFunction.load(spec, "SyncFunction", "us-east-1", {"QUEUE_URL": "q"})
    both_running = threading.Barrier(2)
    handlers: list[Any] = []
    lock = threading.Lock()

    def run(handler: Any) -> None:
        both_running.wait(timeout=5)
        with lock:
            handlers.append(handler)

    threads = [threading.Thread(target=function.environments.invoke, args=(run,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert function.environments.created == 2
    assert handlers[0] is not handlers[1]  # two cold starts: two module objects, two apps
    assert dict(vars(composition_root)) == root_before
    assert dict(os.environ) == environ_before
    assert {name for name in sys.modules if name.startswith("heymarket_local.functions")} - modules_before == set()
