"""Operator commands of `heymarket-bridge`: dlq list/show/redrive/export, status, check-credentials, send.

Each works against a deployed stack (`--stack-name`, URLs from the stack's Outputs, your AWS credentials)
or against the running local stack (`--local`, which reads the state file `heymarket-bridge local` writes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from heymarket_bridge_tools.ops import DeadLetterQueue, RedriveReport, StackQueues, check_credentials, queue_status

LOCAL_STATE: Final = Path(".local/stack.json")


def write_local_state(path: Path, state: dict[str, Any]) -> None:
    """Called by `heymarket-bridge local` once ready, so that the operator commands can find it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n")


@dataclass(frozen=True)
class Target:
    """Where the commands act: AWS clients and the stack's queues and secret."""

    queues: StackQueues
    clients: Callable[[str], Any]
    api_url: str = ""
    webhook_secrets: dict[str, str] | None = None


def add_commands(commands: Any) -> None:
    """Add the operator subcommands to the `heymarket-bridge` parser."""
    dlq = commands.add_parser("dlq", help="inspect, export and redrive the dead-letter queue")
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead letters grouped by error")
    show = actions.add_parser("show", help="every dead letter, masked")
    redrive = actions.add_parser("redrive", help="send dead letters back to the main queue")
    redrive.add_argument("--filter", metavar="TEXT", help="only letters whose error contains TEXT")
    redrive.add_argument("--dry-run", action="store_true", help="count what would move; move nothing")
    export = actions.add_parser("export", help="write the dead letters as JSON lines (unmasked)")
    export.add_argument("file", type=Path)
    status = commands.add_parser("status", help="queue depth, DLQ depth and, on AWS, alarm states")
    credentials = commands.add_parser("check-credentials", help="sign a JWT from the stack's secret and call Heymarket")
    send = commands.add_parser("send", help="sign a payload the way SOURCE would and post it to the bridge")
    send.add_argument("file", type=Path, help="the payload (the body the source would send)")
    send.add_argument("--source", required=True, help="source name: generic, typeform, hubspot, ...")
    send.add_argument("--url", help="webhook base URL (default: the stack's WebhookUrl or the local API)")
    send.add_argument("--secret", help="the source's secret (default: read from the stack's webhook secrets)")
    send.add_argument("--content-type", default="application/json")
    for parser in (listing, show, redrive, export, status, credentials, send):
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--stack-name", help="a deployed stack (AWS credentials and region from your environment)")
        where.add_argument(
            "--local",
            nargs="?",
            const=str(LOCAL_STATE),
            metavar="STATE",
            help=f"the running `heymarket-bridge local` (default when no --stack-name; state file {LOCAL_STATE})",
        )
        parser.add_argument("--region", help="AWS region of --stack-name")


def run(ns: argparse.Namespace) -> int:
    try:
        target = _target(ns)
    except (LookupError, OSError, ValueError) as error:
        print(f"heymarket-bridge: {error}", file=sys.stderr)
        return 2
    if ns.command == "dlq":
        return _dlq(ns, target)
    if ns.command == "status":
        return _status(ns, target)
    if ns.command == "check-credentials":
        with contextlib.redirect_stdout(io.StringIO()):  # the client's metric lines are for Lambda, not here
            ok, message = check_credentials(
                target.clients("secretsmanager"), target.queues.heymarket_secret_arn, target.queues.heymarket_url
            )
        print(("OK: " if ok else "FAILED: ") + message)
        return 0 if ok else 1
    return _send(ns, target)


def _target(ns: argparse.Namespace) -> Target:
    import boto3

    if ns.stack_name:
        session = boto3.session.Session(region_name=ns.region)
        cloudformation = session.client("cloudformation")
        queues = StackQueues.from_stack(cloudformation, ns.stack_name)
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cloudformation.describe_stacks(StackName=ns.stack_name)["Stacks"][0].get("Outputs", [])
        }
        aws: Any = session  # boto3's typed overloads want a literal service name
        return Target(queues, aws.client, api_url=outputs.get("WebhookUrl", "").removesuffix("/webhooks/"))
    path = Path(ns.local or LOCAL_STATE)
    if not path.is_file():
        raise LookupError(
            f"no running local stack ({path} not found): start `heymarket-bridge local` or pass --stack-name"
        )
    state = json.loads(path.read_text())
    local: Any = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    )
    endpoint = state["aws_endpoint_url"]
    queues = StackQueues(
        state["queue_url"], state["dlq_url"], state.get("heymarket_secret_arn", ""), state["heymarket_url"]
    )
    return Target(
        queues,
        lambda service: local.client(service, endpoint_url=endpoint),
        api_url=state["api_url"],
        webhook_secrets=state.get("webhook_secrets"),
    )


def _dlq(ns: argparse.Namespace, target: Target) -> int:
    dlq = DeadLetterQueue(target.clients("sqs"), target.queues)
    if ns.dlq_command == "list":
        summary = dlq.summary()
        print(f"{sum(count for _, count in summary)} dead letter(s)")
        for error, count in summary:
            print(f"{count:6d}  {error}")
        return 0
    if ns.dlq_command == "show":
        for entry in dlq.entries():
            print(json.dumps(entry.masked()))
        return 0
    if ns.dlq_command == "export":
        count = dlq.export(ns.file)
        print(f"wrote {count} dead letter(s) to {ns.file} (unmasked: keep it private)")
        return 0
    report = dlq.redrive(error_filter=ns.filter, dry_run=ns.dry_run, progress=_progress)
    sys.stderr.write("\n")
    verb = "would move" if ns.dry_run else "moved"
    print(f"{verb} {report.moved}, failed {report.failed}, skipped {report.skipped} (filter)")
    for error in report.errors[:10]:
        print(f"  {error}")
    if report.interrupted:
        print("interrupted: run the same command again to continue (nothing was lost or sent twice)")
        return 130
    return 1 if report.failed else 0


def _progress(report: RedriveReport) -> None:
    if sys.stderr.isatty():
        done = report.moved + report.failed
        bar = "#" * min(40, done // 10 + 1)
        sys.stderr.write(f"\r[{bar:<40}] {done} handled, {report.failed} failed")
        sys.stderr.flush()


def _status(ns: argparse.Namespace, target: Target) -> int:
    status = queue_status(target.clients("sqs"), target.queues)
    print(f"queue  {status.queue_visible} waiting, {status.queue_in_flight} in flight")
    print(f"DLQ    {status.dlq_visible} dead letter(s)")
    if ns.stack_name:
        cloudwatch = target.clients("cloudwatch")
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=ns.stack_name)["MetricAlarms"]
        for alarm in alarms:
            print(f"alarm  {alarm['StateValue']:<17} {alarm['AlarmName']}")
        now = datetime.now(UTC)
        for name in ("ContactsDelivered", "ContactsFailed", "ContactsDeadLettered"):
            points = cloudwatch.get_metric_statistics(
                Namespace="HeymarketBridge",
                MetricName=name,
                Dimensions=[{"Name": "service", "Value": ns.stack_name}],
                StartTime=now.timestamp() - 3600,
                EndTime=now,
                Period=3600,
                Statistics=["Sum"],
            )["Datapoints"]
            print(f"last hour  {name:<22} {int(sum(p['Sum'] for p in points))}")
    return 0


def _send(ns: argparse.Namespace, target: Target) -> int:
    from heymarket_bridge_tools.signing import sign, with_token

    body = ns.file.read_bytes()
    base = (ns.url or target.api_url).rstrip("/")
    if not base:
        print("heymarket-bridge: no URL: pass --url", file=sys.stderr)
        return 2
    url = f"{base}/webhooks/{ns.source}"
    secret = ns.secret or (target.webhook_secrets or {}).get(ns.source)
    if secret is None and ns.stack_name:
        secret = _stack_webhook_secret(target, ns.stack_name, ns.source)
    headers = {"Content-Type": ns.content_type}
    if secret:
        if ns.source == "jotform":
            url = with_token(url, secret)  # as Jotform sends it: it cannot set headers
        else:
            headers.update(sign(ns.source, body, secret, method="POST", url=url, now=datetime.now(UTC)))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - URL given by the user
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            print(response.status, response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode("utf-8", "replace"))
        return 1


def _stack_webhook_secret(target: Target, stack_name: str, source: str) -> str | None:
    secrets = target.clients("secretsmanager")
    cloudformation = target.clients("cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    }
    arn = outputs.get("WebhookSecretsArn")
    if not arn:
        return None
    value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]).get(source)
    return str(value) if value else None
