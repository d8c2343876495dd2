"""The docs' commands run as written (tests/docs_examples.py says which example is run how): the local ones against
the quickstart's `heymarket-bridge local` line, a deployed stack's curl examples against that local stack with their
placeholders filled in (and their answers compared with the answer the page shows), and the `--stack-name` ones
against a stack named heymarket-bridge on a local AWS (moto). The examples that need AWS itself are checked in
tests/infrastructure/test_docs.py.

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
from tests.docs_examples import Example, examples
from tests.e2e.test_local_stack import free_ports, wait_for_ready
from tests.support import EVENTS, ROOT

pytestmark = pytest.mark.e2e

EXAMPLES = examples()
DEPLOYED_URL = re.compile(r"https://<api-id>\.execute-api\.<region>\.amazonaws\.com")
TOKEN_PLACEHOLDER = re.compile(r"<(\w+) token>")


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
def local_stack(workdir: Path) -> Iterator[dict[str, str]]:
    """The quickstart's `heymarket-bridge local` line, on free ports."""
    (start,) = [example for example in EXAMPLES if example.kind == "local-start"]
    api, sandbox = free_ports(2)
    line = start.command.replace("--sandbox-port 8099", f"--sandbox-port {sandbox}") + f" --api-port {api}"
    stdout = workdir / "stdout"
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            shlex.split(line), cwd=workdir, env=environment(workdir), stdout=out, stderr=subprocess.DEVNULL
        )
    try:
        wait_for_ready(process, stdout)
        yield {"3000": str(api), "8099": str(sandbox)}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def on_the_local_stack(example: Example, ports: dict[str, str]) -> str:
    """The command with the local stack's free ports; a deployed stack's URL and tokens made the local stack's."""
    command = example.command
    for written, free in ports.items():
        command = command.replace(f"127.0.0.1:{written}", f"127.0.0.1:{free}")
    if example.kind == "api":
        tokens = json.loads((EVENTS / "webhook_secrets.json").read_text())
        command = DEPLOYED_URL.sub(f"http://127.0.0.1:{ports['3000']}", command)
        command = TOKEN_PLACEHOLDER.sub(lambda match: tokens[match.group(1)], command)
    return command


def without_request_id(answer: str) -> Any:
    value = json.loads(answer)
    value.pop("request_id", None)
    return value


def test_the_local_examples_run_as_written(workdir: Path, local_stack: dict[str, str]) -> None:
    ran = [example for example in EXAMPLES if example.kind in ("local", "api")]
    assert any("import contacts.csv" in example.command for example in ran)
    assert any(example.kind == "api" and example.shown_answer for example in ran)
    for example in ran:
        command = on_the_local_stack(example, local_stack)
        result = run(command, workdir, environment(workdir))
        assert result.returncode == 0, f"{example.page}: {command}\n{result.stdout}\n{result.stderr}"
        if example.shown_answer is not None:
            shown, given = without_request_id(example.shown_answer), without_request_id(result.stdout)
            assert given == shown, f"{example.page}: {command} answered {result.stdout}"
    contacts = f"curl -s http://127.0.0.1:{local_stack['8099']}/_sandbox/contacts"
    deadline = time.monotonic() + 30  # the quickstart's import is delivered after a batch window
    while "Grace" not in run(contacts, workdir, environment(workdir)).stdout:
        assert time.monotonic() < deadline, "the imported contacts never reached the sandbox"
        time.sleep(1)


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
            "WebhookSecretsArn": resources.webhook_secrets_arn,
            "ConsentRecordTableName": resources.tables["ConsentRecordTable"],
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


def test_the_deployed_stack_examples_run_as_written(workdir: Path, deployed_stack: dict[str, str]) -> None:
    # The `aws sqs start-message-move-task` alternative needs AWS itself (moto has no move task:
    # tests/integration/test_redrive.py moves letters as it does): tests/infrastructure/test_docs.py checks it.
    ran = [example for example in EXAMPLES if example.kind == "deployed"]
    named = {" ".join(example.words.split()[1:3]) for example in ran}
    commands = {"dlq list", "dlq show", "dlq export", "dlq redrive", "check-credentials --stack-name", "consent export"}
    assert named >= commands
    # The vendor-issued secret the setup page's `sources add hubspot --value-file` reads, saved as a user would.
    (workdir / "hubspot-secret.txt").write_text("the-app-client-secret\n")
    for example in ran:
        result = run(example.command, workdir, environment(workdir, **deployed_stack))
        assert result.returncode == 0, f"{example.page}: {example.command}\n{result.stdout}\n{result.stderr}"
    assert (workdir / "dlq.jsonl").stat().st_mode & 0o777 == 0o600
