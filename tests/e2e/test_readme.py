"""The README's commands run as written: "Try it" against `heymarket-bridge local`, "Recover from the DLQ" against a
stack named heymarket-bridge on a local AWS (moto), and its parameters table lists every template parameter.

Commands run in a temporary folder holding `events/` and a `.venv/bin/heymarket-bridge` that runs this checkout;
the only substitutions are free ports for 3000 and 8099, so that the test never collides with a stack in use.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from heymarket_local.aws import LocalAws
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox
from tests.e2e.test_local_stack import free_ports, wait_for_ready
from tests.support import ROOT

pytestmark = pytest.mark.e2e

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def shell_blocks(text: str) -> list[list[str]]:
    """Each ```sh block's commands: continuation lines joined, blank lines dropped (comments are kept for sh)."""
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        commands: list[str] = []
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command:
                commands.append(command)
        blocks.append(commands)
    return blocks


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "events").symlink_to(ROOT / "events")
    launcher = tmp_path / ".venv" / "bin" / "heymarket-bridge"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m heymarket_bridge_tools.cli "$@"\n')
    launcher.chmod(0o755)
    return tmp_path


def environment(workdir: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(workdir / ".venv" / "bin"), os.environ["PATH"]])
    pythonpath = os.pathsep.join([str(ROOT / "tools"), str(ROOT / "layers")])
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, **extra}


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def readme_stack(workdir: Path) -> Iterator[dict[str, Any]]:
    """The README's `heymarket-bridge local` line, on free ports."""
    start_line, *_ = shell_blocks(section("Try it: two commands"))[1]
    api, sandbox = free_ports(2)
    start = start_line.replace("--sandbox-port 8099", f"--sandbox-port {sandbox}") + f" --api-port {api}"
    stdout = workdir / "stdout"
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            shlex.split(start), cwd=workdir, env=environment(workdir), stdout=out, stderr=subprocess.DEVNULL
        )
    try:
        wait_for_ready(process, stdout)
        yield {"ports": {"3000": str(api), "8099": str(sandbox)}, "stdout": stdout}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_the_try_it_commands_run_as_written(workdir: Path, readme_stack: dict[str, Any]) -> None:
    commands = shell_blocks(section("Try it: two commands"))[2]
    assert any("import contacts.csv" in command for command in commands)
    for command in commands:
        for written, free in readme_stack["ports"].items():
            command = command.replace(f"127.0.0.1:{written}", f"127.0.0.1:{free}")
        result = run(command, workdir, environment(workdir))
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    deadline = time.monotonic() + 30  # the last command lists the sandbox's contacts: delivered after a batch window
    while "Grace" not in run(command, workdir, environment(workdir)).stdout:
        assert time.monotonic() < deadline, "the imported contacts never reached the sandbox"
        time.sleep(1)


def test_the_make_targets_the_readme_names_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in shell_blocks(section("Try it: two commands"))[0]:
        target = command.split("#")[0].split()[1]
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), target


@pytest.fixture
def deployed_stack() -> Iterator[dict[str, str]]:
    """A stack named heymarket-bridge on a local AWS, with the outputs and parameters the commands read."""
    with LocalAws() as aws, HeymarketSandbox() as sandbox:
        env = {**aws.environment(), "AWS_REGION": "us-east-1"}
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        sqs = session.client("sqs", endpoint_url=aws.endpoint_url)
        secrets = session.client("secretsmanager", endpoint_url=aws.endpoint_url)
        resources = StackTemplate.load().provision(
            sqs,
            secrets,
            webhook_secrets={"generic": "token"},
            heymarket_credentials={"secret_id": "sandbox-secret-id", "secret_key": "sandbox-secret-key"},
        )
        outputs = {
            "ContactQueueUrl": resources.queue_url,
            "ContactDeadLetterQueueUrl": resources.dlq_url,
            "HeymarketSecretArn": resources.heymarket_secret_arn,
        }
        template = {
            "Parameters": {"HeymarketBaseUrl": {"Type": "String"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        session.client("cloudformation", endpoint_url=aws.endpoint_url).create_stack(
            StackName="heymarket-bridge",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "HeymarketBaseUrl", "ParameterValue": sandbox.url}],
        )
        letter = {"error": "Heymarket answered 503", "contact": {"phone": "15105550100"}, "message": "{}"}
        sqs.send_message(QueueUrl=resources.dlq_url, MessageBody=json.dumps(letter))
        yield env


def test_the_dlq_recovery_commands_run_as_written(workdir: Path, deployed_stack: dict[str, str]) -> None:
    # The bridge's own commands; the `aws sqs start-message-move-task` alternative needs AWS itself (moto has no
    # move task: tests/integration/test_redrive.py moves letters as it does) and is never run against an account.
    commands = [
        c for block in shell_blocks(section("Recover from the DLQ")) for c in block if c.startswith("heymarket-bridge ")
    ]
    assert len(commands) >= 7
    for command in commands:
        result = run(command, workdir, environment(workdir, **deployed_stack))
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert (workdir / "dlq.jsonl").stat().st_mode & 0o777 == 0o600


def test_the_parameters_table_lists_every_template_parameter() -> None:
    table = section("Deploy to AWS")
    documented = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", table))
    missing = sorted(set(StackTemplate.load().document["Parameters"]) - documented)
    assert missing == []
