"""CPU per contact of each handler with its I/O stubbed, and where it goes (cProfile).

Both handlers run as deployed (functions/<name>/app.py with its Powertools decorators, the template's settings),
with every network call replaced by an instant answer: SQS and DynamoDB clients that accept everything, and a
Heymarket connection pool that answers 200 with the contacts sent. What is left is the bridge's own CPU, plus
Powertools and the JSON log and metric lines the handlers print (to a file here, to CloudWatch on AWS); boto3's
request serialisation is not included.

Baselines, from the same run: for ingest, the least any bridge must do per contact (decode the webhook's JSON and
encode one queue message); for sync, the per-contact way (the same HTTP client making one POST /v2/contact per
contact, on the same stubbed pool).
"""

from __future__ import annotations

import copy
import cProfile
import io
import json
import pstats
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from benchmarks.common import ROOT, Figure, Section, handlers_quiet
from benchmarks.efficiency import sqs_records
from heymarket_bridge.adapters.aws.sqs import SqsBatchSender, SqsDeadLetters, SqsRequeue
from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp, V2Gateway
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.contact import parse_contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.settings import IngestSettings, SyncSettings
from heymarket_local.audit import distinct_phones, load_contact
from heymarket_local.lambdas import Invoke, LocalLambdaContext, load_module
from heymarket_local.template import StackTemplate

TOKEN: Final = "benchmark-token"


class AcceptingSqs:
    """An SQS client that takes every message at once."""

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Successful": [{"Id": entry["Id"], "MessageId": entry["Id"]} for entry in Entries], "Failed": []}


class AcceptingDynamoDb:
    """A DynamoDB client for the ingest side's tables (deliveries, newest contacts, counters): every delivery is new
    (no item found), every write succeeds."""

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {}


class EchoResponse:
    """The part of urllib3's response the client reads."""

    def __init__(self, data: bytes) -> None:
        self.status = 200
        self.headers = {"X-Request-Id": "stub"}
        self.connection = None
        self._data = data

    def read1(self, amount: int) -> bytes:
        chunk, self._data = self._data[:amount], self._data[amount:]
        return chunk

    def release_conn(self) -> None:
        pass


class EchoPool:
    """A urllib3 pool whose Heymarket answers at once, in the documented shapes: no contact is known to a search,
    and the bulk endpoint answers every contact as stored."""

    def __init__(self) -> None:
        self._ids = iter(range(1, 10**9))

    def request(self, method: str, url: str, body: bytes | None = None, **_: Any) -> EchoResponse:
        if url.endswith("/v2/contacts/search"):
            return EchoResponse(b"[]")
        sent = json.loads(body) if body else {}
        if url.endswith("/v2/contacts") and isinstance(sent, dict):
            stored = [{"id": next(self._ids), "uuid": str(uuid.uuid4()), **c} for c in sent.get("contacts", [])]
            return EchoResponse(json.dumps({"contacts": stored, "failed_contacts": []}).encode())
        return EchoResponse(json.dumps({"id": next(self._ids), "rev": 1, "uuid": str(uuid.uuid4())}).encode())


def _http() -> HeymarketHttp:
    credentials = Credentials(secret_id="benchmark-id", secret_key="benchmark-key-long-enough-for-hs256")
    return HeymarketHttp(
        "https://api.heymarket.test",
        Authenticator(lambda _r: credentials),
        RequestBudget(1e9),
        pool=EchoPool(),  # type: ignore[arg-type]
    )


def stubbed_functions(template: StackTemplate) -> tuple[Invoke, Invoke]:
    """Both handlers as deployed (functions/<name>/app.py, with its decorators), each over an app built as the
    composition roots build theirs, with stubs in place of the network: handed to the handler file's
    `handler_over(app)`, so nothing is patched."""
    from heymarket_bridge.adapters.aws.deliveries import DynamoDbDeliveryLedger, DynamoDbRecentContacts
    from heymarket_bridge.app import ingest as ingest_app
    from heymarket_bridge.app import sync as sync_app
    from heymarket_bridge.sync.service import SyncService

    ingest_settings = IngestSettings(queue_url="https://queue", webhook_secrets_arn="arn", idempotency_table="table")
    ledger = DynamoDbDeliveryLedger("table", AcceptingDynamoDb())
    ingest = IngestService(
        ingest_settings,
        lambda: {"generic": TOKEN},
        SqsBatchSender(AcceptingSqs(), "https://queue"),
        deliveries=ledger,
        recent=DynamoDbRecentContacts("table", AcceptingDynamoDb()),
    )
    sync_settings = SyncSettings(heymarket_secret_arn="arn", dlq_url="https://dlq", queue_url="https://queue")
    http = _http()
    sync = sync_app.SyncRuntime(
        sync_settings,
        SyncService(
            V2Gateway(http, max_batch=sync_settings.max_batch),
            SqsDeadLetters(SqsBatchSender(AcceptingSqs(), "https://dlq")),
            SqsRequeue(SqsBatchSender(AcceptingSqs(), "https://queue")),
            max_receive_count=sync_settings.max_receive_count,
        ),
        http,
    )
    return (
        _invoker(template, "IngestFunction", ingest_app.IngestApp(lambda: ingest)),
        _invoker(template, "SyncFunction", sync_app.SyncApp(lambda: sync)),
    )


def _invoker(template: StackTemplate, function_id: str, app: Any) -> Invoke:
    spec = template.function(function_id)
    handler = load_module(spec, f"benchmarks.cpu.{function_id}").handler_over(app)
    return lambda event: handler(event, LocalLambdaContext(function_id, spec.timeout_s, spec.memory_mb, "us-east-1"))


def webhook_events(count: int, per_webhook: int) -> list[dict[str, Any]]:
    template = json.loads((ROOT / "events" / "generic" / "single_contact.json").read_text())
    template["headers"]["authorization"] = f"Bearer {TOKEN}"
    phones = distinct_phones(count * per_webhook)
    events: list[dict[str, Any]] = []
    for n in range(count):
        event = copy.deepcopy(template)
        people = [load_contact(p, i, "cpu") for i, p in enumerate(phones[n * per_webhook : (n + 1) * per_webhook])]
        event["body"] = json.dumps({"contacts": people} if per_webhook > 1 else people[0])
        event["isBase64Encoded"] = False
        event["requestContext"]["requestId"] = f"req-cpu-{n}"
        events.append(event)
    return events


# The shapes the masking and normalising steps search: no separator, emails everywhere, a run of digits.
MEGABYTE_VALUES: Final = {"letters": "x" * 1_000_000, "emails": "a@" * 500_000, "digits": "1 " * 500_000}
LARGE_FIELDS: Final = ("phone", "first", "last", "display_name", "email", "avatar", "tags", "lists", "assignee_id")
LARGE_HEADERS: Final = ("authorization", "content-type", "idempotency-key", "x-bridge-token")


def large_input_events(normal: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(what, event): the normal 1-contact webhook with one field, custom-field key or header made 1 MB (each of
    the three shapes), just under the 1 MiB a body may be, so that it reaches every parser."""
    contact = json.loads(normal["body"])
    events: list[tuple[str, dict[str, Any]]] = []
    for shape, big in MEGABYTE_VALUES.items():
        bodies = {field: {**contact, field: big} for field in LARGE_FIELDS}
        bodies["tags item"] = {**contact, "tags": ["VIP", big]}
        bodies["custom key"] = {**contact, "custom": {big: "x"}}
        bodies["custom value"] = {**contact, "custom": {"Grade": big}}
        for field, body in bodies.items():
            events.append((f"{field}, {shape}", {**normal, "body": json.dumps(body)}))
        for header in LARGE_HEADERS:
            events.append((f"{header} header, {shape}", {**normal, "headers": {**normal["headers"], header: big}}))
    return events


def decode(event: dict[str, Any]) -> Callable[[], None]:
    def work() -> None:
        json.loads(event["body"])

    return work


class CountingStream(io.TextIOBase):
    """Counts the characters the handlers print (JSON log lines and EMF metrics: CloudWatch Logs ingestion)."""

    def __init__(self) -> None:
        self.characters = 0

    def write(self, text: str) -> int:
        self.characters += len(text)
        return len(text)


def printed_per_call(calls: int, work: Callable[[], None]) -> float:
    """Characters the handlers print per call of `work`'s `calls` invocations."""
    counter = CountingStream()
    with handlers_quiet(counter):
        work()
    return counter.characters / calls


def cpu_seconds(work: Callable[[], None], repeat: int = 3) -> float:
    """The least process CPU time of `repeat` runs of `work` (the others were disturbed by something else)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


# Where the CPU goes: (what, file ending, function) whose cumulative time is reported as a share of the handler's.
INGEST_PARTS: Final = (
    ("contact validation", "heymarket_bridge/domain/contact.py", "read_contact"),
    ("  of which phone (phonenumbers)", "heymarket_bridge/domain/phone.py", "read_phone"),
    ("newest-contact read", "heymarket_bridge/adapters/aws/deliveries.py", "seen"),
    ("newest-contact claim", "heymarket_bridge/adapters/aws/deliveries.py", "claim"),
    ("newest-contact confirmation", "heymarket_bridge/adapters/aws/deliveries.py", "confirm"),
    ("queue messages (JSON, entries)", "heymarket_bridge/ingest/buffer.py", "enqueue"),
    ("log line (Powertools Logger)", "aws_lambda_powertools/logging/logger.py", "info"),
    ("metrics (EMF flush)", "cloudwatch_emf/cloudwatch.py", "flush_metrics"),
)
SYNC_PARTS: Final = (
    ("read queue messages", "heymarket_bridge/sync/plan.py", "read_batch"),
    ("plan lanes and merge", "heymarket_bridge/sync/plan.py", "plan_batch"),
    ("search and bulk request, answers read", "heymarket_bridge/sync/execute.py", "execute"),
    ("  of which JSON and HTTP client", "heymarket_bridge/adapters/heymarket/http.py", "_send"),
    ("settle each message", "heymarket_bridge/sync/settle.py", "settle"),
    ("SQS records read", "heymarket_bridge/app/sync.py", "_queue_record"),
    ("metrics and log line", "heymarket_bridge/app/sync.py", "_record_metrics"),
)


def profile_shares(
    work: Callable[[], None], parts: tuple[tuple[str, str, str], ...], handler: str
) -> list[tuple[str, float]]:
    """(part, % of the handler's CPU) from cProfile's cumulative times."""
    profile = cProfile.Profile()
    profile.runcall(work)
    raw: Mapping[tuple[str, int, str], Any] = pstats.Stats(profile, stream=io.StringIO()).stats  # type: ignore[attr-defined]

    def cumulative(file_end: str, function: str) -> float:
        return float(sum(v[3] for (f, _, name), v in raw.items() if f.endswith(file_end) and name == function))

    total = cumulative(f"functions/{handler}/app.py", "lambda_handler")
    return [(label, 100 * cumulative(file_end, function) / total) for label, file_end, function in parts]


def run() -> Section:
    section = Section("4. CPU per contact, I/O stubbed")
    template = StackTemplate.load()
    ingest_invoke, sync_invoke = stubbed_functions(template)
    singles = webhook_events(300, 1)
    bulks = webhook_events(10, 100)
    for event in singles[:20]:  # warm: first-call caches (phone metadata, regexes, the JWT)
        assert ingest_invoke(copy.deepcopy(event))["statusCode"] == 202

    def post(events: list[dict[str, Any]]) -> Callable[[], None]:
        def work() -> None:
            for event in events:
                response = ingest_invoke(event)
                assert response["statusCode"] == 202, response

        return work

    single_s = cpu_seconds(post(singles)) / len(singles)
    bulk_s = cpu_seconds(post(bulks)) / (len(bulks) * 100)

    def minimum(events: list[dict[str, Any]]) -> Callable[[], None]:
        received_at = datetime.now(UTC).isoformat()

        def work() -> None:
            for event in events:
                payload = json.loads(event["body"])
                for raw in payload.get("contacts", [payload]):
                    json.dumps({"v": 1, "contact": raw, "source": "generic", "received_at": received_at})

        return work

    minimum_single_s = cpu_seconds(minimum(singles)) / len(singles)
    large = large_input_events(singles[0])
    for _, event in large:  # warm, and check each is answered (a 5xx would be a failure, not a figure)
        assert ingest_invoke(copy.deepcopy(event))["statusCode"] < 500

    def answer(event: dict[str, Any]) -> Callable[[], None]:
        return lambda: ingest_invoke(event) and None

    large_s = {name: cpu_seconds(answer(event), repeat=2) for name, event in large}
    decode_s = cpu_seconds(decode(large[0][1]), repeat=2)  # a body holding a 1 MB phone

    minimum_bulk_s = cpu_seconds(minimum(bulks)) / (len(bulks) * 100)
    ingest_profile = profile_shares(post(singles), INGEST_PARTS, "ingest")
    log_per_webhook = printed_per_call(len(singles), post(singles))

    contacts = [load_contact(p, i, "cpu-sync") for i, p in enumerate(distinct_phones(1000))]
    records = sqs_records(contacts, "cpu")
    batches = [{"Records": records[start : start + 100]} for start in range(0, len(records), 100)]
    assert sync_invoke(copy.deepcopy(batches[0])) == {"batchItemFailures": []}

    def deliver() -> None:
        for batch in batches:
            assert sync_invoke(batch) == {"batchItemFailures": []}

    sync_s = cpu_seconds(deliver) / len(records)
    sync_profile = profile_shares(deliver, SYNC_PARTS, "sync")
    log_per_batch = printed_per_call(len(batches), deliver)

    http = _http()
    bodies = [parse_contact(c, "US").to_heymarket() for c in contacts]

    def per_contact() -> None:
        for body in bodies:
            http.call("POST", "/v2/contact", body, Deadline.after(60))

    per_contact_s = cpu_seconds(per_contact) / len(bodies)

    title = section.title
    worst_name = max(large_s, key=lambda name: large_s[name])
    section.figures += [
        Figure(
            title,
            "ingest, a 1 MB value: mean over every field and header",
            sum(large_s.values()) / len(large_s) * 1e6,
            "us",
            baseline=single_s * 1e6,
            baseline_name="a normal 1-contact webhook",
        ),
        Figure(
            title,
            f"ingest, a 1 MB value: the costliest ({worst_name})",
            large_s[worst_name] * 1e6,
            "us",
            baseline=decode_s * 1e6,
            baseline_name="JSON decoding of a 1 MB body alone",
        ),
    ]
    section.figures += [
        Figure(
            title,
            "ingest, webhooks of 1 contact",
            single_s * 1e6,
            "us",
            baseline=minimum_single_s * 1e6,
            baseline_name="JSON in + queue message out only",
        ),
        Figure(
            title,
            "ingest, webhooks of 100 contacts",
            bulk_s * 1e6,
            "us",
            baseline=minimum_bulk_s * 1e6,
            baseline_name="JSON in + queue message out only",
        ),
        Figure(
            title,
            "sync, batches of 100",
            sync_s * 1e6,
            "us",
            baseline=per_contact_s * 1e6,
            baseline_name="one request per contact, same client",
        ),
    ]
    section.figures += [
        Figure(title, "log and metric output per 1-contact webhook", log_per_webhook, "bytes"),
        Figure(title, "log and metric output per sync batch of 100", log_per_batch, "bytes"),
    ]
    section.details.update({"ingest_profile": ingest_profile, "sync_profile": sync_profile})
    section.notes += [
        "ingest, 1 contact a webhook, share of the handler's CPU (cProfile): "
        + "; ".join(f"{name.strip()} {share:.0f}%" for name, share in ingest_profile),
        "sync, batches of 100, share of the handler's CPU (cProfile): "
        + "; ".join(f"{name.strip()} {share:.0f}%" for name, share in sync_profile),
        f"1 MB inputs: {len(large_s)} requests (each contact field, a tag item, a custom-field key and value, and "
        "4 headers, each as 1 MB of letters, of 'a@' and of '1 '), least CPU of 2 runs each; before issue 26 a "
        "100 KB tag name alone cost 15 s (the email-masking pattern was quadratic).",
        "least CPU of 3 runs each, process time; webhooks include the newest-contact read, claim and confirmation "
        "(stubbed DynamoDB; the sample names no delivery, so no delivery record), "
        "the sync batches the JSON encoding of the bulk request and the decoding of its answer.",
    ]
    return section
