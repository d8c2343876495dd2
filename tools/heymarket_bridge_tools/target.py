"""Where an operator command acts: a deployed stack (`--stack-name`) or a running local stack (`--local`).

A deployed stack is found by its CloudFormation outputs with your AWS credentials and region; a local stack by
its state file (state.py). Either way the command gets the same `Target`: boto3 clients, the queues, the
Heymarket secret, the webhook base URL and the webhook secrets. Every failure to find one is a `CliError` that
says what to pass or start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_local.state import STATE_DIR, LocalState, StateFileError, read_state, running_stacks

if TYPE_CHECKING:
    from heymarket_bridge_tools.ops import StackQueues

DEFAULT_HEYMARKET_URL: Final = "https://api.heymarket.com"
LOCAL_REGION: Final = "us-east-1"

F = TypeVar("F", bound=Callable[..., Any])


def target_options(command: F) -> F:
    """The options every operator command takes to choose its target."""
    for option in reversed(
        [
            click.option(
                "--stack-name",
                metavar="NAME",
                help="A deployed stack (AWS credentials and region from your environment or --region).",
            ),
            click.option(
                "--region",
                metavar="REGION",
                help="AWS region of --stack-name (default: AWS_REGION, AWS_DEFAULT_REGION, or your profile's).",
            ),
            click.option(
                "--local",
                "use_local",
                is_flag=True,
                help=f"The running `heymarket-bridge local` started in this folder (state in {STATE_DIR}/); "
                "the default when no --stack-name is given.",
            ),
            click.option(
                "--state",
                "state_file",
                type=click.Path(path_type=Path, dir_okay=False),
                metavar="FILE",
                help="The state file of a local stack, when several run or it was started elsewhere.",
            ),
        ]
    ):
        command = option(command)
    return command


@dataclass(frozen=True)
class Target:
    """A stack the operator commands act on."""

    description: str  # "stack heymarket-bridge (eu-west-1)" or "local stack at http://127.0.0.1:3000"
    queues: StackQueues
    clients: Callable[[str], Any]
    api_url: str  # the webhook base URL, without /webhooks/
    stack_name: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    local_secrets: dict[str, Any] | None = None

    @property
    def is_local(self) -> bool:
        return self.stack_name is None

    @property
    def options(self) -> str:
        """The options that name this target again in a hint: " --stack-name NAME" or " --local"."""
        return f" --stack-name {self.stack_name}" if self.stack_name else " --local"

    def webhook_secret(self, source: str) -> str | None:
        """The token or signing secret the stack holds for `source`: its first one when the entry holds several
        or scoped ones (heymarket_bridge.ingest.scopes); None when it holds none or a malformed entry."""
        from heymarket_bridge_tools.source_setup import entry_secrets

        found = entry_secrets(self.webhook_secrets().get(source))
        return str(found[0].token) if found else None

    def webhook_secrets(self) -> dict[str, Any]:
        """Every entry of the stack's webhook-secrets secret, as it holds them now (the local stack's too: what
        `sources add --local` changed); the local stack's copy from its start when it names no secret."""
        arn = self.outputs.get("WebhookSecretsArn")
        if not arn:
            return dict(self.local_secrets or {})
        text = self.clients("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        try:
            secrets = json.loads(text)
        except ValueError:
            secrets = None
        if not isinstance(secrets, dict):
            raise CliError(f"the stack's webhook secrets ({arn}) are not a JSON object: fix the secret")
        return secrets

    def parameter(self, name: str, default: str) -> str:
        return self.parameters.get(name) or default


def resolve(stack_name: str | None, region: str | None, use_local: bool, state_file: Path | None) -> Target:
    """The target the options name; a CliError says what is missing."""
    if stack_name and (use_local or state_file):
        raise CliError("choose one target: --stack-name, or --local/--state", EXIT_USAGE)
    if stack_name:
        return deployed(stack_name, region)
    if region:
        raise CliError("--region applies to --stack-name only", EXIT_USAGE)
    return local(state_file)


def local(state_file: Path | None = None) -> Target:
    """The running local stack named by `state_file`, or the only one started in this folder."""
    state = _local_state(state_file)
    data = state.data
    from heymarket_bridge_tools.ops import StackQueues  # boto3 only once a command runs

    session: Any = _boto3().session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=LOCAL_REGION
    )
    endpoint = str(data["aws_endpoint_url"])
    secrets = data.get("webhook_secrets")
    found = data.get("tables")
    tables: dict[str, Any] = found if isinstance(found, dict) else {}
    # The outputs a deployed stack gives that the local one has too (its tables are made from template.yaml).
    outputs = {
        f"{table}Name": str(tables[table]) for table in ("ConsentRecordTable", "ContactStateTable") if table in tables
    }
    # The URL senders use: a tunnel's (`local --public-url`, the stack's PublicBaseUrl) when it has one; the
    # commands that post from this machine use api_url.
    public = str((data.get("parameters") or {}).get("PublicBaseUrl") or state.api_url).rstrip("/")
    outputs["WebhookUrl"] = f"{public}/webhooks/"
    outputs["DeleteContactsUrl"] = f"{public}/contacts/delete"
    if data.get("webhook_secrets_arn"):
        outputs["WebhookSecretsArn"] = str(data["webhook_secrets_arn"])
    parameters = data.get("ssm_parameters")
    if isinstance(parameters, dict) and parameters.get("SourceMappingsParameter"):
        outputs["SourceMappingsParameterName"] = str(parameters["SourceMappingsParameter"])
    return Target(
        description=f"local stack at {state.api_url}",
        queues=StackQueues(
            data["queue_url"],
            data["dlq_url"],
            str(data.get("heymarket_secret_arn", "")),
            str(data.get("heymarket_url", "")),
            str(data.get("fetch_dlq_url", "")),
        ),
        clients=lambda service: session.client(service, endpoint_url=endpoint),
        api_url=state.api_url,
        outputs=outputs,
        parameters={str(k): str(v) for k, v in (data.get("parameters") or {}).items()},
        local_secrets={str(k): v for k, v in secrets.items()} if isinstance(secrets, dict) else {},
    )


def _local_state(state_file: Path | None) -> LocalState:
    if state_file is not None:
        try:
            state = read_state(state_file)
        except FileNotFoundError:
            raise CliError(
                f"no local stack state at {state_file}: start `heymarket-bridge local` or check the path", EXIT_USAGE
            ) from None
        except (OSError, StateFileError) as error:
            raise CliError(str(error), EXIT_USAGE) from None
        if not state.alive:
            raise CliError(f"the local stack of {state_file} is no longer running: start it again", EXIT_USAGE)
        return state
    stacks = running_stacks()
    if not stacks:
        raise CliError(
            f"no running local stack in this folder ({STATE_DIR}/ has none): start `heymarket-bridge local` here, "
            "or pass --stack-name for a deployed stack",
            EXIT_USAGE,
        )
    if len(stacks) > 1:
        choices = ", ".join(str(stack.path) for stack in stacks)
        raise CliError(f"several local stacks are running: choose one with --state ({choices})", EXIT_USAGE)
    return stacks[0]


def deployed(stack_name: str, region: str | None) -> Target:
    """A deployed heymarket-bridge stack, found by its CloudFormation outputs."""
    boto3 = _boto3()
    from botocore.config import Config

    from heymarket_bridge_tools.ops import StackQueues

    # A few retries, and short timeouts: an operator waiting on a dead network should hear so within seconds.
    config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
    # boto3 reads AWS_DEFAULT_REGION and the profile's region, not AWS_REGION, which the other AWS SDKs read first
    # (AWS SDKs and Tools Reference Guide, "AWS Region"): so does this command, as people set either.
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if session.region_name is None:
        raise CliError(
            "no AWS region: pass --region, or set AWS_DEFAULT_REGION (or AWS_REGION, or a region in your AWS profile)",
            EXIT_USAGE,
        )
    cloudformation: Any = session.client("cloudformation", config=config)
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if "does not exist" in message:
            raise CliError(
                f"no stack named {stack_name!r} in {session.region_name}: check --stack-name and --region "
                "(`aws cloudformation list-stacks` lists them)",
                EXIT_USAGE,
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    missing = [key for key in ("ContactQueueUrl", "ContactDeadLetterQueueUrl") if key not in outputs]
    if missing:
        raise CliError(
            f"stack {stack_name!r} has no output {', '.join(missing)}: is it a heymarket-bridge stack, "
            "and is its deployment complete?",
            EXIT_USAGE,
        )
    client_session: Any = session  # boto3's typed overloads want a literal service name
    return Target(
        description=f"stack {stack_name} ({session.region_name})",
        queues=StackQueues(
            queue_url=outputs["ContactQueueUrl"],
            dlq_url=outputs["ContactDeadLetterQueueUrl"],
            heymarket_secret_arn=outputs.get("HeymarketSecretArn", ""),
            heymarket_url=parameters.get("LocalTestHeymarketUrl")
            or parameters.get("HeymarketBaseUrl")
            or DEFAULT_HEYMARKET_URL,
            fetch_dlq_url=outputs.get("LeadFetchDeadLetterQueueUrl", ""),
        ),
        clients=lambda service: client_session.client(service, config=config),
        api_url=outputs.get("WebhookUrl", "").rstrip("/").removesuffix("/webhooks"),
        stack_name=stack_name,
        outputs=outputs,
        parameters=parameters,
    )


def _boto3() -> Any:
    import boto3

    return boto3
