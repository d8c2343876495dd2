"""`heymarket-bridge demo`: every sample webhook in events/ through the whole local stack, then a summary.

It starts the local stack in this process on free ports (Heymarket sandbox included), configures the
demo webhook secrets (events/webhook_secrets.json, whose tokens the sample events carry), posts each
HTTP API sample event (events/<source>/*.json) to the local API as the sender would (signatures made
afresh for this address and moment with those secrets), waits until the
queue is drained and the event source idle, then prints what happened: contacts received, accepted
and rejected (with reasons), delivered to the sandbox, dead-lettered (with reasons), the lists and
tags they ended on (events/generic/open_house_signups.json names them), and the Heymarket requests it took.

The exit status is 0 when every accepted contact ended delivered or dead-lettered; 1 when anything
went wrong (the stack did not start, a webhook got a 5xx, the queue did not drain, a contact got
lost, or no contact was accepted at all). While the stack runs, everything the handlers write (their
JSON logs, the EMF metric lines, warnings) goes to a file (.local/demo/handlers.log by default), so
the terminal keeps only the summary. Metrics stay on: Powertools with metrics disabled never clears
its buffers, which warns on every invocation and still prints once 100 values pile up.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import urllib3

from heymarket_bridge.domain.operations import DeleteOperation, QueuedOperation
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_bridge_tools.signing import resign_event
from heymarket_local.activity import BatchTotals
from heymarket_local.answers import read_answer
from heymarket_local.poller import BatchResult, PollerStats
from heymarket_local.stack import LocalStack, LocalStackConfig, LocalStackError
from heymarket_local.template import TEMPLATE_PATH
from heymarket_sandbox import SandboxConfig

EVENTS_DIR: Final = TEMPLATE_PATH.parent / "events"
# Under the folder the demo runs in, as `local`'s logs are (never inside an installed package).
DEFAULT_LOG_FILE: Final = Path(".local") / "demo" / "handlers.log"
DEFAULT_DRAIN_TIMEOUT_S: Final = 45.0
# Headers a client sets itself (or that API Gateway added to the recorded event).
_HOP_HEADERS: Final = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "x-forwarded-for", "x-forwarded-port"}
)
_HOP_HEADERS_PREFIXES: Final = ("x-forwarded-", "x-amzn-")


@dataclass(frozen=True)
class SampleWebhook:
    """An HTTP API sample event turned back into the request its sender made."""

    name: str  # "generic/mixed_contacts.json"
    method: str
    target: str  # path and query
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SampleEvent:
    name: str  # "generic/mixed_contacts.json"
    event: dict[str, Any]


def sample_events(events_dir: Path) -> list[SampleEvent]:
    """Every events/<source>/*.json that is an API Gateway HTTP API (payload 2.0) event, sorted by name."""
    samples: list[SampleEvent] = []
    for path in sorted(events_dir.glob("*/*.json")):
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _is_http_api_event(event):
            samples.append(SampleEvent(f"{path.parent.name}/{path.name}", event))
    return samples


def as_request(sample: SampleEvent, *, api_url: str, secrets: Mapping[str, Any], now: datetime) -> SampleWebhook:
    """The request the sample's sender would make to the local API at `now`, signed afresh with the demo secret.

    Signatures that cover a timestamp (HubSpot, Calendly) or the URL (HubSpot) cannot be replayed as
    recorded, so each sample is re-signed for this API's address and this moment.
    """
    event = copy.deepcopy(sample.event)
    event["requestContext"]["domainName"] = urlsplit(api_url).netloc
    source = str((event.get("pathParameters") or {}).get("source", ""))
    secret = secrets.get(source)
    if isinstance(secret, str) and secret:
        with contextlib.suppress(ValueError):  # a source the signer does not know is posted as recorded
            event = resign_event(event, secret, now)
    return _as_request(sample.name, event)


def _is_http_api_event(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("version") != "2.0" or not isinstance(event.get("rawPath"), str):
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def _as_request(name: str, event: Mapping[str, Any]) -> SampleWebhook:
    headers = {
        str(key): str(value)
        for key, value in (event.get("headers") or {}).items()
        if value != "" and key.lower() not in _HOP_HEADERS and not key.lower().startswith(_HOP_HEADERS_PREFIXES)
    }
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
    query = event.get("rawQueryString") or ""
    return SampleWebhook(
        name=name,
        method=str(event["requestContext"]["http"].get("method") or "POST"),
        target=event["rawPath"] + (f"?{query}" if query else ""),
        headers=headers,
        body=body,
    )


# The header in which a source that answers in its own format (Salesforce's SOAP Ack) gives the bridge's JSON answer.
REPLY_HEADER: Final = "x-bridge-reply"


@dataclass
class WebhookOutcome:
    webhook: SampleWebhook
    status: int
    accepted: int | None  # None when the reply does not say
    rejections: list[str]  # one reason per rejected contact
    refusal: str | None  # why the whole request was refused (4xx/5xx)
    warnings: list[str] = field(default_factory=list)  # one line per contact accepted with a warning

    def line(self) -> str:
        if self.refusal is not None:
            return f"{self.status}  {self.webhook.name}: refused: {self.refusal}"
        if self.accepted is None:
            return f"{self.status}  {self.webhook.name}: answered in the source's own format"
        detail = f"{self.accepted} accepted"
        if self.rejections:
            detail += f", {len(self.rejections)} rejected"
        return f"{self.status}  {self.webhook.name}: {detail}"


def read_reply(
    webhook: SampleWebhook, status: int, data: bytes, headers: Mapping[str, str] | None = None
) -> WebhookOutcome:
    """What the bridge's reply says: its JSON body, or, from a source answering in its own format (Salesforce's SOAP),
    the JSON answer in the X-Bridge-Reply header; with neither, only the status is known. A `rejected` entry marked
    `accepted` is a contact queued with a warning, not a rejection."""
    carried = {str(k).lower(): v for k, v in (headers or {}).items()}.get(REPLY_HEADER)
    try:
        reply = json.loads(carried if carried is not None else data)
    except ValueError:
        reply = None
    answer = read_answer(reply) if isinstance(reply, dict) else None
    rejections = [f"{webhook.name} {note.line()}" for note in answer.rejected] if answer is not None else []
    warnings = [f"{webhook.name} {note.line()}" for note in answer.warnings] if answer is not None else []
    accepted = answer.accepted if answer is not None else None
    refusal = answer.error if answer is not None else None
    if refusal is None and isinstance(reply, dict) and isinstance(reply.get("message"), str) and status >= 400:
        refusal = reply["message"]
    if status >= 400 and refusal is None:
        refusal = data.decode("utf-8", "replace")[:200] or f"HTTP {status}"
    if status >= 400 and accepted is None:
        accepted = 0
    return WebhookOutcome(webhook, status, accepted, rejections, refusal, warnings)


@dataclass
class Ledger:
    """What the event source reported: each message's body, and whether it was finally deleted."""

    bodies: dict[str, str] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, result: BatchResult) -> None:
        with self.lock:
            for record in result.records:
                self.bodies[record["messageId"]] = record["body"]
            self.settled.update(record["messageId"] for record in result.settled_records)


@dataclass(frozen=True)
class DeadLetterView:
    phone: str | None
    source: str
    reason: str
    body: str  # the original queue message body, when known
    what: str = "unreadable message"  # what the message asked, masked: "15*****1234", "delete of contact <id>"


def read_dead_letter(body: str, max_receive_count: int) -> DeadLetterView:
    """A DLQ message: a letter the sync function wrote (with its error), or a message the queue redrove."""
    from heymarket_bridge.domain.operations import DeadLetter, MalformedMessage, parse_operation

    try:
        letter = DeadLetter.from_json(body)
    except MalformedMessage:
        pass
    else:
        message = letter.message or ""
        phone = (letter.contact or {}).get("phone")
        try:
            what = _describe(parse_operation(message))
        except MalformedMessage:
            what = _describe_contact(str(phone) if phone else None)
        return DeadLetterView(
            phone=str(phone) if phone else None,
            source=letter.source or "unknown",
            reason=letter.error,
            body=message,
            what=what,
        )
    reason = f"received {max_receive_count} times without being settled; moved by the queue's redrive policy"
    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return DeadLetterView(None, "unknown", reason, body)
    phone = operation.target.phone if isinstance(operation, DeleteOperation) else operation.contact.phone
    return DeadLetterView(phone, operation.source, reason, body, _describe(operation))


def _refusal_letter(body: str) -> bool:
    """A contact the ingest function refused (and answered so): a letter for an operator, not a sync failure."""
    from heymarket_bridge.domain.operations import DeadLetter, MalformedMessage

    try:
        return DeadLetter.from_json(body).refused_at_ingest
    except MalformedMessage:
        return False


def _describe(operation: QueuedOperation) -> str:
    """What a queued operation asks, masked as the logs mask it: a contact's phone, or a delete's target."""
    if isinstance(operation, DeleteOperation):
        target = operation.target
        return (
            f"delete of {_describe_contact(target.phone)}" if target.phone else f"delete of contact {target.contact_id}"
        )
    return _describe_contact(operation.contact.phone)


def _describe_contact(phone: str | None) -> str:
    from heymarket_bridge.observability import mask_phone

    return mask_phone(phone) if phone else "a contact without a phone"


def _is_list_write(body: str) -> bool:
    """A list write's follow-up, which the sync function queues itself (heymarket_bridge.sync.lists.steps)."""
    from heymarket_bridge.domain.operations import ContactOperation, MalformedMessage, Operation, parse_operation

    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return False
    return isinstance(operation, ContactOperation) and operation.op is Operation.LISTS


def _is_delete(body: str) -> bool:
    from heymarket_bridge.domain.operations import DeleteOperation, MalformedMessage, parse_operation

    try:
        return isinstance(parse_operation(body), DeleteOperation)
    except MalformedMessage:
        return False


def _phone_of(body: str) -> str | None:
    from heymarket_bridge.domain.operations import ContactOperation, MalformedMessage, parse_operation

    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return None
    return operation.contact.phone if isinstance(operation, ContactOperation) else None


@dataclass
class DemoReport:
    outcomes: list[WebhookOutcome]
    ledger: Ledger
    dead_letters: list[DeadLetterView]
    sandbox_phones: set[str]
    sandbox_stats: dict[str, Any]
    drained: bool
    drain_s: float
    problems: list[str] = field(default_factory=list)
    delivered_messages: int = 0
    deleted_messages: int = 0  # deletes the sync function settled (sent, or already gone)
    poller: PollerStats | None = None  # the event source's counters at the end
    left_in_queue: tuple[int, int] = (0, 0)  # (waiting, in flight) when the demo stopped waiting
    lists: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's lists, as /_sandbox/lists shows them
    contacts: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's contacts (for names and tags)
    tags: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's tags
    sync: BatchTotals | None = None  # the sync function's own "Batch synced" records, added up
    refusal_letters: int = 0  # contacts refused at ingest, written to the DLQ for an operator (not in dead_letters)

    def check(self) -> None:
        """Fill `problems`: what makes the demo fail."""
        for outcome in self.outcomes:
            if outcome.status >= 500:
                self.problems.append(f"{outcome.webhook.name} got HTTP {outcome.status}")
        if not self.drained:
            self.problems.append("the queue did not drain in time")
        if not self.ledger.bodies and self.drained:  # undrained: already a problem, and the ledger is incomplete
            self.problems.append("no contact was accepted, so nothing went through the pipeline")
        dead_bodies = {letter.body for letter in self.dead_letters}
        dead_phones = {letter.phone for letter in self.dead_letters if letter.phone}
        accepted_bodies = 0
        for message_id, body in self.ledger.bodies.items():
            follow_up = _is_list_write(body)  # queued by the sync function itself, not by a webhook
            accepted_bodies += not follow_up
            if message_id not in self.ledger.settled:
                if body not in dead_bodies:
                    self.problems.append(f"message {message_id} was neither settled nor moved to the DLQ")
                continue
            if follow_up:
                continue
            if _is_delete(body):
                if body not in dead_bodies:
                    self.deleted_messages += 1
                continue
            phone = _phone_of(body)
            if phone is None:
                if body not in dead_bodies:
                    self.problems.append(f"message {message_id} is unreadable and not in the DLQ")
            elif body not in dead_bodies and phone in self.sandbox_phones:
                self.delivered_messages += 1
            elif phone not in dead_phones:
                self.problems.append(f"a contact of message {message_id} was neither delivered nor dead-lettered")
        replies_accepted = [outcome.accepted for outcome in self.outcomes if outcome.accepted is not None]
        readable = self.outcomes and len(replies_accepted) == len(self.outcomes)
        # Only a drained queue has been received whole: before, the ledger holds what the event source took so far.
        if self.drained and readable and sum(replies_accepted) != accepted_bodies:
            self.problems.append(
                f"the replies accepted {sum(replies_accepted)} contacts but {accepted_bodies} were queued"
            )

    def render(self, *, events_dir: Path, log_file: Path, settings: str) -> str:
        lines = [f"Posted {len(self.outcomes)} sample webhooks from {_display(events_dir)}/:"]
        lines += [f"  {outcome.line()}" for outcome in self.outcomes]
        rejections = [reason for outcome in self.outcomes for reason in outcome.rejections]
        refusals = [outcome for outcome in self.outcomes if outcome.refusal is not None]
        replied = [outcome.accepted for outcome in self.outcomes if outcome.accepted is not None]
        # What the senders were told (the replies) is what was accepted; what the sync side received may lag.
        own_format = sum(1 for outcome in self.outcomes if outcome.accepted is None)
        accepted = sum(replied) if replied or not self.ledger.bodies else len(self.ledger.bodies)
        if own_format and self.drained:
            accepted = max(accepted, len(self.ledger.bodies))  # the source-format replies' contacts are in the ledger
        note = f", and {own_format} webhook(s) answered in their source's own format" if own_format else ""
        lines.append("")
        lines.append(f"Received       {accepted + len(rejections)} contacts")
        lines.append(f"Accepted       {accepted} (queued in SQS){note if not self.drained else ''}")
        letters = self.refusal_letters
        written = f" ({letters} in the DLQ as refusal letters: `dlq list`)" if letters else ""
        lines.append(f"Rejected       {len(rejections)}{written}" + (":" if rejections else ""))
        lines += [f"  - {reason}" for reason in rejections]
        warnings = [warning for outcome in self.outcomes for warning in outcome.warnings]
        if warnings:
            lines.append(f"Warnings       {len(warnings)} accepted contact(s) to check:")
            lines += [f"  - {warning}" for warning in warnings]
        if refusals:
            lines.append(f"Refused        {len(refusals)} webhook(s), see above")
        stored = len(self.sandbox_phones)
        so_far = "" if self.drained else " so far"
        lines.append(
            f"Delivered      {self.delivered_messages}{so_far} to the Heymarket sandbox "
            f"({stored} distinct contacts stored: updates of one phone are merged)"
        )
        if self.deleted_messages:
            lines.append(f"Deleted        {self.deleted_messages}{so_far} (delete requests settled)")
        lines.append(f"Dead-lettered  {len(self.dead_letters)}{so_far}" + (":" if self.dead_letters else ""))
        lines += [f"  - {letter.what} ({letter.source}): {letter.reason}" for letter in self.dead_letters]
        lines += self._segment_lines()
        lines += self._retry_lines()
        lines.append(self._heymarket_line())
        if self.drained:
            lines.append(f"Queue          drained in {self.drain_s:.1f} s; {settings}")
        else:
            waiting, in_flight = self.left_in_queue
            lines.append(
                f"Queue          NOT drained after {self.drain_s:.1f} s: {waiting} waiting, {in_flight} in flight "
                f"(raise --timeout to wait longer); {settings}"
            )
        lines.append("")
        lines.append(f"Handler logs: {_display(log_file)}")
        if self.problems:
            lines.append("FAILED:")
            lines += [f"  - {problem}" for problem in self.problems]
        else:
            lines.append("OK: every accepted contact was delivered or dead-lettered with a reason.")
        return "\n".join(lines)

    def _segment_lines(self) -> list[str]:
        """The lists in the sandbox with their members, and the tags contacts hold (by name)."""
        from heymarket_bridge.observability import mask_phone

        names = {str(c.get("phone")): _name(c) for c in self.contacts}
        lines = [f"Lists          {len(self.lists)} in Heymarket" + (":" if self.lists else "")]
        for item in self.lists:
            phones = [str(phone) for phone in item.get("phones") or []]
            members = ", ".join(f"{names.get(p) or '?'} ({mask_phone(p)})" for p in phones) or "no member"
            lines.append(f"  - {item.get('title')} (id {item.get('id')}): {members}")
        tag_names = {tag.get("id"): str(tag.get("tag")) for tag in self.tags}
        held: dict[str, int] = {}
        for contact in self.contacts:
            for tag in contact.get("tags") or []:
                name = tag_names.get(tag.get("tag_id"), f"tag {tag.get('tag_id')}")
                held[name] = held.get(name, 0) + 1
        tagged = ", ".join(f"{name} x {count}" for name, count in sorted(held.items()))
        lines.append(f"Tags           {tagged or 'none on any contact'}")
        return lines

    def _transient_failures(self) -> int:
        """Heymarket answers the sync function retries: 5xx, 429, and connections reset (the sandbox's counts)."""
        by_status = {str(status): count for status, count in (self.sandbox_stats.get("by_status") or {}).items()}
        answered = sum(count for status, count in by_status.items() if status.startswith("5") or status == "429")
        return int(answered) + int(self.sandbox_stats.get("connections_reset") or 0)

    def _retry_lines(self) -> list[str]:
        """Retries inside an invocation (Heymarket's failed answers, each retried by the sync function's client), the
        messages left for another receive and those put back to wait (the sync function's own counts)."""
        failed = self._transient_failures()
        sync = self.sync
        left = sync.totals["retried"] if sync is not None and sync.invocations else None
        if left is None and self.poller is not None:
            left = self.poller.retried_messages
        waiting = sync.totals["waiting"] if sync is not None else 0
        invocations = self.poller.invocations if self.poller is not None else (sync.invocations if sync else 0)
        failed_invocations = self.poller.failed_invocations if self.poller is not None else 0
        lines = []
        if failed or left or failed_invocations:
            parts = []
            if failed:
                inside = " inside their sync invocation" if not left and not waiting else ""
                parts.append(f"{failed} Heymarket request(s) again after a 5xx, 429 or reset{inside}")
            if left:
                parts.append(f"{left} message(s) left for another receive")
            head = "; ".join(parts) or "no Heymarket request"
            lines.append(f"Retried        {head} ({invocations} sync invocations, {failed_invocations} failed)")
        if waiting:
            errors = "; ".join(sync.configuration_errors) if sync is not None else ""
            lines.append(
                f"Waiting        {waiting} time(s) a message was put back to wait for a configuration fix"
                + (f": {errors}" if errors else "")
            )
        return lines

    def _heymarket_line(self) -> str:
        by_endpoint = self.sandbox_stats.get("by_endpoint") or {}
        endpoints = ", ".join(f"{count} x {name}" for name, count in sorted(by_endpoint.items()))
        requests = self.sandbox_stats.get("requests", 0)
        noun = "request" if requests == 1 else "requests"
        line = f"Heymarket      {requests} {noun}" + (f" ({endpoints})" if endpoints else "")
        by_status = {str(status): count for status, count in (self.sandbox_stats.get("by_status") or {}).items()}
        faults = {status: count for status, count in by_status.items() if not status.startswith("2")}
        resets = int(self.sandbox_stats.get("connections_reset") or 0)
        if faults or resets:
            answers = [f"{count} x {status}" for status, count in sorted(faults.items())]
            server_errors = sum(count for status, count in faults.items() if status.startswith("5"))
            if resets:
                answers.append(f"{resets} connection(s) reset")
            line += f"; {server_errors} answered 5xx, faults: " + ", ".join(answers)
        return line


def _name(contact: Mapping[str, Any]) -> str:
    return str(contact.get("display_name") or " ".join(str(contact.get(k) or "") for k in ("first", "last")).strip())


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def post_all(
    api_url: str,
    samples: Sequence[SampleEvent],
    secrets: Mapping[str, Any],
    progress: Callable[[int], None] = lambda done: None,
) -> list[WebhookOutcome]:
    """Post each sample as its sender would, signed just before it is sent; one keep-alive connection, in order."""
    outcomes = []
    with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=30.0)) as http:
        for sample in samples:
            webhook = as_request(sample, api_url=api_url, secrets=secrets, now=datetime.now(UTC))
            url = api_url + webhook.target
            response = http.request(webhook.method, url, body=webhook.body, headers=webhook.headers)
            outcomes.append(read_reply(webhook, response.status, response.data, dict(response.headers)))
            progress(len(outcomes))
    return outcomes


def run_demo(
    *,
    events_dir: Path = EVENTS_DIR,
    webhook_secrets_file: Path | None = None,
    log_file: Path = DEFAULT_LOG_FILE,
    parameter_overrides: Mapping[str, str | int] | None = None,
    sandbox: SandboxConfig | None = None,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    out: IO[str] | None = None,
    progress: bool = False,
    template_path: Path = TEMPLATE_PATH,
) -> int:
    """Run the demo; print the summary to `out` (default: stdout); return the exit status (0, or 1 when the summary
    names a problem). What stops it before a summary (no samples, unreadable secrets, a stack that cannot start) is
    raised as a CliError, which the command reports in its one error style.

    With `progress`, a terminal on stderr shows the webhooks being posted and the queue draining.
    """
    started = time.monotonic()
    out = out or sys.stdout  # taken before the handlers' output is redirected to the log file
    bars = _Progress(sys.stderr if progress else None)
    samples = sample_events(events_dir)
    if not samples:
        raise CliError(f"no HTTP API sample events under {events_dir}/<source>/: pass --events DIR", EXIT_USAGE)
    secrets_path = webhook_secrets_file or events_dir / "webhook_secrets.json"
    try:
        webhook_secrets = json.loads(secrets_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(
            f"cannot read the webhook secrets {secrets_path}: {reason} (pass --webhook-secrets FILE)", EXIT_USAGE
        ) from None
    log_file.parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger()
    totals = BatchTotals()
    config = LocalStackConfig(
        sandbox=sandbox or SandboxConfig(),
        webhook_secrets=webhook_secrets,
        parameter_overrides=dict(parameter_overrides or {}),
        template_path=template_path,
    )
    print("heymarket-bridge demo: moto, the real handlers and the Heymarket sandbox, all on 127.0.0.1", file=out)
    with ExitStack() as cleanup:
        # Unwound in reverse: the stack stops while its logs still go to the file, then the file closes.
        log_stream = cleanup.enter_context(log_file.open("w", encoding="utf-8"))
        cleanup.enter_context(_logs_to(log_stream, totals))
        cleanup.enter_context(redirect_stdout(log_stream))  # EMF metrics are print()ed
        cleanup.enter_context(redirect_stderr(log_stream))  # warnings and thread tracebacks
        stack = LocalStack(config, on_batch=ledger.record)
        try:
            stack.start()
        except LocalStackError as error:
            raise CliError(str(error)) from None
        cleanup.callback(stack.stop)
        settings = _settings_text(stack)
        print(f"Stack ready in {time.monotonic() - started:.1f} s; posting webhooks...", file=out, flush=True)
        with bars.task("posting sample webhooks", total=len(samples)) as advance:
            outcomes = post_all(stack.ready_info.api_url, samples, webhook_secrets, progress=advance)
        posted = time.monotonic()
        with bars.task("waiting for the queue to drain", total=None) as advance:
            drained = _wait_until_drained(stack, drain_timeout_s, advance)
        drain_s = time.monotonic() - posted
        status = stack.status()
        sandbox_under_test = stack.sandbox
        assert sandbox_under_test is not None  # the demo always runs the built-in sandbox
        max_receive_count = stack.resources.max_receive_count
        bodies = stack.dead_letter_bodies()
        report = DemoReport(
            outcomes=outcomes,
            ledger=ledger,
            dead_letters=[read_dead_letter(body, max_receive_count) for body in bodies if not _refusal_letter(body)],
            refusal_letters=sum(1 for body in bodies if _refusal_letter(body)),
            sandbox_phones={str(contact["phone"]) for contact in sandbox_under_test.contacts()},
            sandbox_stats=sandbox_under_test.stats(),
            drained=drained,
            drain_s=drain_s,
            poller=status.poller,
            left_in_queue=(status.queued, status.in_flight),
            lists=sandbox_under_test.lists(),
            contacts=sandbox_under_test.contacts(),
            tags=sandbox_under_test.tags(),
            sync=totals,
        )
    report.check()
    print(report.render(events_dir=events_dir, log_file=log_file, settings=settings), file=out)
    print(f"Done in {time.monotonic() - started:.1f} s.", file=out, flush=True)
    return 1 if report.problems else 0


def _wait_until_drained(stack: LocalStack, timeout_s: float, progress: Callable[[int], None]) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        status = stack.status()
        progress(status.poller.deleted_messages)
        if status.drained:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


class _Progress:
    """Progress bars on a terminal (rich, on the real stderr), or nothing."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream if stream is not None and stream.isatty() else None

    @contextmanager
    def task(self, description: str, *, total: int | None) -> Iterator[Callable[[int], None]]:
        if self._stream is None:
            yield lambda done: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        columns += (
            [BarColumn(), MofNCompleteColumn()] if total is not None else [TextColumn("{task.completed} settled")]
        )
        console = Console(file=self._stream)
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda done: bar.update(task_id, completed=done)


def _settings_text(stack: LocalStack) -> str:
    from heymarket_local.template import StackTemplate

    template = StackTemplate.load(stack.config.template_path, stack.config.parameter_overrides)
    spec = template.event_source()
    return (
        f"batch size {spec.batch_size}, batching window {spec.batching_window_s} s, "
        f"max concurrency {spec.max_concurrency}, max receive count {template.max_receive_count()}"
    )


@contextmanager
def _logs_to(stream: IO[str], totals: logging.Handler) -> Iterator[None]:
    """Send the handlers' Powertools logs and the local stack's own logs to `stream` for a while; the sync function's
    batch records to `totals` as well."""
    from heymarket_bridge.observability import logger as powertools_logger

    logger: Any = powertools_logger  # Powertools hands addHandler/removeHandler to its std logger
    handler = logger.registered_handler
    previous_stream = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
    logger.addHandler(totals)
    tools_logger = logging.getLogger("heymarket_bridge_tools")
    tools_handler = logging.StreamHandler(stream)
    tools_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    tools_logger.addHandler(tools_handler)
    previous_propagate, tools_logger.propagate = tools_logger.propagate, False
    try:
        yield
    finally:
        tools_logger.propagate = previous_propagate
        tools_logger.removeHandler(tools_handler)
        logger.removeHandler(totals)
        if previous_stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous_stream)
