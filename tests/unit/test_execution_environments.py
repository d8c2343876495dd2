"""The local stack's execution environments: concurrent invocations never share what a cold start builds."""

from __future__ import annotations

import threading
import types
from functools import cache
from typing import Any

from heymarket_bridge_tools.lambdas import ExecutionEnvironments


def fake_runtime_module() -> types.ModuleType:
    module = types.ModuleType("fake_runtime")

    @cache
    def build() -> object:
        return object()

    module.build = build  # type: ignore[attr-defined]
    return module


def test_concurrent_invocations_build_their_own_instance_and_later_ones_reuse_an_idle_environment() -> None:
    module = fake_runtime_module()
    environments = ExecutionEnvironments([(module, "build")]).install()
    both_running = threading.Barrier(2)
    seen: list[object] = []
    lock = threading.Lock()

    def handler(_event: dict[str, Any]) -> None:
        both_running.wait(timeout=5)  # the two invocations overlap, as two concurrent Lambda invocations
        with lock:
            seen.append(module.build())

    threads = [threading.Thread(target=environments.invoke, args=(handler, {})) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(instance) for instance in seen}) == 2
    assert environments.created == 2

    later: list[object] = []
    environments.invoke(lambda _event: later.append(module.build()), {})
    assert later[0] in seen  # a warm environment: no new cold start
    assert environments.created == 2


def test_outside_an_invocation_and_after_uninstall_the_process_wide_instance_is_used() -> None:
    module = fake_runtime_module()
    original = module.build
    environments = ExecutionEnvironments([(module, "build")]).install()

    inside: list[object] = []
    environments.invoke(lambda _event: inside.append(module.build()), {})

    assert module.build() is original()
    assert inside[0] is not original()
    environments.uninstall()
    assert module.build is original
