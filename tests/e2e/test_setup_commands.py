"""The setup commands against `heymarket-bridge local`, as a user runs them: the doctor, and a rotated secret that
the next delivery is signed and checked with."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_operator_commands import bridge, local_stack

pytestmark = pytest.mark.e2e
__all__ = ["local_stack"]  # the fixture, used by name


def test_the_doctor_passes_on_a_fresh_local_stack(local_stack: dict[str, Any]) -> None:
    checked = bridge(local_stack["cwd"], "doctor", "--local")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK    the credentials work" in checked.stdout
    assert "typeform: configured" in checked.stdout
    assert checked.stdout.rstrip().endswith("all good")


def test_a_rotated_secret_is_the_one_the_next_delivery_is_signed_and_checked_with(local_stack: dict[str, Any]) -> None:
    rotated = bridge(local_stack["cwd"], "sources", "rotate", "typeform", "--local")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    token = rotated.stdout.split("paste this secret into the sender: ", 1)[1].split()[0]
    assert token not in local_stack["tokens"].values()

    sent = bridge(local_stack["cwd"], "send", "typeform", "--local")

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("202")
