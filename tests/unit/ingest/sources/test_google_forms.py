"""The google_forms source, and the Apps Script the bridge ships for it (tools/google_forms/Code.gs): the script's
signature and body are checked by the source itself, the script run under node with stand-ins for the Apps Script
services (Utilities' HMAC returns Java's signed bytes, as Apps Script does)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge.ingest.signatures import hmac_sha256
from heymarket_bridge_tools.signing import event_body
from tests.support import ROOT, demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    seconds,
    tampered,
    with_body,
    with_headers,
    with_json,
)
from tests.unit.ingest.sources.in_turn import deliver_in_turn

SAMPLE = "google_forms/form_response"
SCRIPT = ROOT / "tools" / "google_forms" / "Code.gs"
DOCS = ROOT / "docs" / "sources" / "google_forms.md"


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def with_answers(event: dict[str, Any], *answers: tuple[str, Any], **members: Any) -> dict[str, Any]:
    payload = payload_of(event)
    payload["answers"] = [{"title": title, "type": "TEXT", "answer": answer} for title, answer in answers]
    payload.update(members)
    return with_json(event, payload)


def test_the_sample_response_becomes_a_contact_by_the_questions_titles(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 202
    # "Mobile number" read in the country the "Country" question names; the emergency contact's phone never used.
    assert delivered.queued == [
        {"phone": "525512345678", "first": "Ana", "last": "Ruiz", "email": "ana.ruiz@example.com"}
    ]


def test_the_response_id_and_its_time_go_with_the_contact(event: dict[str, Any]) -> None:
    delivery = read_delivery(event)

    assert delivery.identity.sender_id == "2_ABaOnudK3xYz9vQm0Wc1pLr8"
    assert delivery.event_ids == ("2_ABaOnudK3xYz9vQm0Wc1pLr8",)
    assert delivery.occurred_at[0] == datetime(2026, 11, 23, 8, 59, 58, 412000, tzinfo=UTC)


def test_the_collected_respondent_email_wins_over_an_email_question(event: dict[str, Any]) -> None:
    changed = with_answers(
        event, ("Phone", "(415) 555-0142"), ("Email", "typed@example.com"), respondent_email="ana@example.com"
    )

    [contact] = deliver(changed).queued

    assert contact["email"] == "ana@example.com"


def test_only_an_emergency_contacts_phone_is_never_taken_for_the_respondents(event: dict[str, Any]) -> None:
    delivered = deliver(with_answers(event, ("Name", "Ana Ruiz"), ("Emergency contact phone", "(415) 555-0142")))

    assert delivered.queued == []
    assert "about someone else" in delivered.rejected[0]["errors"][0]


def test_a_form_without_a_phone_question_is_rejected_saying_to_map_one(event: dict[str, Any]) -> None:
    delivered = deliver(with_answers(event, ("Best number to reach you", "(415) 555-0142")))

    assert delivered.queued == []
    assert "map the phone question" in delivered.rejected[0]["errors"][0]


def test_a_mapping_names_a_question_by_its_title(event: dict[str, Any]) -> None:
    changed = with_answers(event, ("Best number to reach you", "(415) 555-0142"), ("Which campus?", "North"))
    mappings = {"google_forms": {"phone": "best number to reach YOU", "custom": {"101": "Which campus?"}}}

    [contact] = deliver(changed, mappings=mappings).queued

    assert (contact["phone"], contact["custom"]) == ("14155550142", {"101": "North"})


def test_a_checkbox_answer_is_its_choices_joined(event: dict[str, Any]) -> None:
    changed = with_answers(event, ("Phone", "(415) 555-0142"), ("Days", ["Saturday", "Sunday"]))

    [contact] = deliver(changed, mappings={"google_forms": {"custom": {"7": "Days"}}}).queued

    assert contact["custom"] == {"7": "Saturday, Sunday"}


@pytest.mark.parametrize("answer", ["Yes", "I agree to receive text messages", "No"])
def test_an_sms_consent_question_is_never_read_without_a_mapping(event: dict[str, Any], answer: str) -> None:
    changed = with_answers(event, ("Phone", "(415) 555-0142"), ("May we text you? (SMS opt-out)", answer))

    [contact] = deliver(changed).queued

    assert "is_opted_out" not in contact


# ---------------------------------------------------------------- the signature


def test_a_changed_body_is_401(event: dict[str, Any]) -> None:
    assert deliver(tampered(event, "ana.ruiz@example.com", "someone@example.com")).status == 401


def test_a_signature_made_with_another_key_is_401(event: dict[str, Any]) -> None:
    assert deliver(resigned(event, secret="another-key")).status == 401


def test_a_missing_signature_is_401_naming_the_header(event: dict[str, Any]) -> None:
    delivered = deliver(with_headers(event, x_bridge_signature=None))

    assert delivered.status == 401
    assert "X-Bridge-Signature" in delivered.json["error"]["message"]


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_a_signature_more_than_five_minutes_away_is_a_replay_401(event: dict[str, Any], offset_s: int) -> None:
    assert deliver(event, now=SIGNED_AT + seconds(offset_s)).status == 401


def test_the_python_port_of_the_scripts_signing_line_matches_the_check(event: dict[str, Any]) -> None:
    """Code.gs: computeHmacSha256Signature(t + '.' + body, key, UTF_8), each byte as two hex digits."""
    body = event_body(event)
    digest = hmac_sha256(demo_webhook_secrets()["google_forms"], b"1795424400." + body).hex()

    assert event["headers"]["x-bridge-signature"] == f"t=1795424400,v1={digest}"


# ---------------------------------------------------------------- repeats and order


def test_the_same_response_posted_twice_gives_one_contact(event: dict[str, Any]) -> None:
    retried = resigned(event, now=SIGNED_AT + seconds(30))

    turns = deliver_in_turn([event, retried], now=SIGNED_AT + seconds(30))

    assert turns.replies[1]["duplicate"] is True
    assert len(turns.messages) == 1


def test_an_older_response_after_a_newer_one_is_ordered_below_it(event: dict[str, Any]) -> None:
    newer = with_answers(event, ("Phone", "(415) 555-0142"), ("Name", "Ana Ruiz"), response_id="r2")
    older = with_answers(
        event, ("Phone", "(415) 555-0142"), ("Name", "Ana Ruis"), response_id="r1", submitted_at="2026-11-23T08:00:00Z"
    )

    turns = deliver_in_turn([newer, older])

    assert [m["contact"]["last"] for m in turns.messages] == ["Ruiz", "Ruis"]
    newer_rank, older_rank = turns.ranks()
    assert older_rank < newer_rank


# ---------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '{"answers": {}}',
        '{"answers": [1]}',
        '{"answers": [{"title": 7, "answer": "x"}]}',
        json.dumps({"answers": [{"title": "q", "answer": "a"}] * 501}),
        "[" * 50_000,
    ],
)
def test_a_body_that_is_no_response_is_400(event: dict[str, Any], body: str) -> None:
    delivered = deliver(with_body(event, body))

    assert delivered.status == 400
    assert delivered.queued == []


@pytest.mark.parametrize("answer", [{"a": 1}, [["x", "y"], ["z"]], 4155550142, None, "x" * 200_000])
def test_an_answer_of_any_shape_is_never_a_500(event: dict[str, Any], answer: Any) -> None:
    delivered = deliver(with_answers(event, ("Phone", answer), ("Grid", [["a"], ["b", "c"]])))

    assert delivered.status in (202, 413)


# ---------------------------------------------------------------- the script the bridge ships


def test_the_docs_page_holds_the_script_as_shipped() -> None:
    page = DOCS.read_text()
    blocks = re.findall(r"```javascript\n(.*?)```", page, re.DOTALL)

    assert SCRIPT.read_text() in blocks


NODE_RUNNER = r"""
const fs = require('fs'), vm = require('vm'), crypto = require('crypto');
const [script, key, codes, mode] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3]), process.argv[4]];
const url = 'https://example.execute-api.us-east-1.amazonaws.com/webhooks/google_forms';
const props = {BRIDGE_URL: url, BRIDGE_KEY: key};
const posts = [];
const signed = (buffer) => Array.from(buffer).map((b) => (b > 127 ? b - 256 : b));  // Java bytes
const context = {
  console: {warn() {}, error() {}, log() {}}, Date, Math, JSON, String, Object, Error,
  Utilities: {
    Charset: {UTF_8: 'UTF-8'}, sleep() {},
    computeHmacSha256Signature: (value, k) => signed(crypto.createHmac('sha256', Buffer.from(k, 'utf8'))
      .update(Buffer.from(value, 'utf8')).digest()),
  },
  PropertiesService: {getScriptProperties: () => ({
    getProperty: (n) => props[n] ?? null, setProperty: (n, v) => { props[n] = v; },
    getProperties: () => Object.assign({}, props), deleteProperty: (n) => { delete props[n]; },
  })},
  UrlFetchApp: {fetch: (url, options) => {
    posts.push({url, options});
    const code = codes.shift();
    if (code === 0) throw new Error('DNS error');
    return {getResponseCode: () => code};
  }},
  FormApp: {getActiveForm: () => ({getId: () => 'form-1', getTitle: () => 'Open house — sign-up'})},
};
vm.createContext(context);
vm.runInContext(fs.readFileSync(script, 'utf8'), context);
const item = (title, type, answer) => ({getItem: () => ({getTitle: () => title, getType: () => type}),
  getResponse: () => answer});
const response = {
  getId: () => 'resp-1', getTimestamp: () => new Date(Date.UTC(2026, 10, 23, 8, 59, 58)), getRespondentEmail: () => '',
  getItemResponses: () => [item('Nombre completo', 'TEXT', 'José Núñez'), item('Teléfono', 'TEXT', '+52 55 1234 5678'),
    item('Días', 'CHECKBOX', ['Sábado', 'Domingo'])],
};
let thrown = null;
try { context.onFormSubmit({response}); } catch (error) { thrown = String(error.message); }
if (mode === 'retry-later') { codes.push(202); context.retryPending(); }
const pending = Object.keys(props).filter((k) => k.startsWith('pending:'));
process.stdout.write(JSON.stringify({posts, thrown, pending}));
"""


def run_script(codes: list[int], mode: str = "") -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:  # the Python port of the signing line above still checks the scheme
        pytest.skip("node is not installed")
    key = demo_webhook_secrets()["google_forms"]
    args = [node, "-e", NODE_RUNNER, str(SCRIPT), key, json.dumps(codes), mode]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def as_event(post: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    """The sample event carrying what the script posted, and the moment it signed it."""
    headers = {name.lower(): value for name, value in post["options"]["headers"].items()}
    sent_at = datetime.fromtimestamp(int(headers["x-bridge-signature"].split(",")[0][2:]), UTC)
    event = load_event(SAMPLE)
    event["headers"] = {**event["headers"], **headers}
    event["body"] = post["options"]["payload"]
    return event, sent_at


def test_what_the_script_posts_is_verified_and_read_by_the_source() -> None:
    [post] = run_script([202])["posts"]
    event, sent_at = as_event(post)

    delivered = deliver(event, now=sent_at)

    assert post["options"]["contentType"] == "application/json"
    assert delivered.status == 202
    assert delivered.queued[0]["phone"] == "525512345678"
    assert (delivered.queued[0]["first"], delivered.queued[0]["last"]) == ("José", "Núñez")
    assert read_delivery(event, now=sent_at).event_ids == ("resp-1",)


def test_the_script_retries_a_failure_with_a_fresh_signature_each_time() -> None:
    result = run_script([503, 0, 429, 202])

    assert len(result["posts"]) == 4
    assert result["thrown"] is None
    assert result["pending"] == []
    for post in result["posts"]:
        event, sent_at = as_event(post)
        assert deliver(event, now=sent_at).status == 202


def test_a_response_the_bridge_could_not_take_is_kept_and_sent_by_retry_pending() -> None:
    failed = run_script([503, 503, 503, 503])
    retried = run_script([503, 503, 503, 503], mode="retry-later")

    assert failed["pending"] == ["pending:resp-1"]
    assert "not delivered" in failed["thrown"]
    assert len(retried["posts"]) == 5
    assert retried["pending"] == []
    event, sent_at = as_event(retried["posts"][-1])
    assert deliver(event, now=sent_at).status == 202


def test_a_refusal_is_not_retried() -> None:
    result = run_script([400])

    assert len(result["posts"]) == 1
    assert result["pending"] == []
    assert result["thrown"] is None
