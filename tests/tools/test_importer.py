"""`heymarket-bridge import`: chunks, rejections with reasons, and a resume that sends no row twice."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge_tools.errors import CliError
from heymarket_bridge_tools.importer import (
    Checkpoint,
    ChunkFailed,
    ContactImport,
    check_export,
    parse_mapping,
    read_export,
    read_rows,
    to_contact,
)


class FakeBridge:
    """The generic webhook as README "Answers" describes it: rejects contacts whose phone is 'bad', queues one whose
    email is 'bad' without it (accepted, with a warning), remembers Idempotency-Keys (a repeat gets the first answer
    with "duplicate": true, the same key with another body a 422), and with `recent` answers as a repeat a request
    whose every contact it queued unchanged before (its 15-minute rule)."""

    def __init__(self, answers: list[int] | None = None, *, recent: bool = False) -> None:
        self.answers = list(answers or [])  # statuses to answer first (e.g. 503)
        self.recent = recent
        self.queued: list[str] = []
        self.latest: set[str] = set()
        self.keys: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.requests = 0

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, Mapping[str, str]]:
        self.requests += 1
        if self.answers:
            return self.answers.pop(0), b'{"message": "Service Unavailable"}', {}
        key = headers["Idempotency-Key"]
        if key in self.keys:
            first_body, first_answer = self.keys[key]
            if first_body != body:
                error = {"code": "idempotency_key_reused", "message": "this Idempotency-Key was already used"}
                return 422, json.dumps({"error": error}).encode(), {}
            return 202, json.dumps({**first_answer, "duplicate": True}).encode(), {}
        contacts = json.loads(body)["contacts"]
        rejected: list[dict[str, Any]] = []
        fresh = []
        for index, contact in enumerate(contacts):
            if contact.get("phone") == "bad":
                rejected.append({"index": index, "errors": ["phone is not a phone number"]})
                continue
            if contact.get("email") == "bad":
                rejected.append(
                    {
                        "index": index,
                        "accepted": True,
                        "dropped": ["email"],
                        "errors": ["email is not a valid address"],
                        "warnings": ["email is not a valid address: the contact was queued without it"],
                    }
                )
            fingerprint = json.dumps(contact, sort_keys=True)
            if not (self.recent and fingerprint in self.latest):
                fresh.append((contact["phone"], fingerprint))
        accepted = len(contacts) - sum(1 for r in rejected if not r.get("accepted"))
        self.queued += [phone for phone, _ in fresh]
        self.latest.update(fingerprint for _, fingerprint in fresh)
        answer: dict[str, Any] = {"accepted": accepted, "rejected": rejected}
        if accepted and not fresh:
            answer["duplicate"] = True
        self.keys[key] = (body, answer)
        return 202, json.dumps(answer).encode(), {}


def export(tmp_path: Path, phones: list[str]) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("Mobile,First Name\n" + "".join(f"{phone},Ada\n" for phone in phones))
    return path


def importer(bridge: FakeBridge, tmp_path: Path, rejects: io.StringIO, chunk_size: int = 2) -> ContactImport:
    checkpoint = Checkpoint("f" * 64, "local", {"phone": "Mobile", "first": "First Name"}, chunk_size)
    return ContactImport(bridge.post, checkpoint, tmp_path / "state.json", rejects, concurrency=2, sleep=lambda s: None)


def test_rows_go_in_chunks_and_rejections_are_written_with_row_and_reason(tmp_path: Path) -> None:
    bridge, rejects = FakeBridge(), io.StringIO()
    path = export(tmp_path, ["+15105550001", "bad", "+15105550003", "+15105550004", "+15105550005"])

    summary = importer(bridge, tmp_path, rejects).run(read_rows(path))

    assert bridge.requests == 3  # chunks of 2
    assert sorted(bridge.queued) == ["+15105550001", "+15105550003", "+15105550004", "+15105550005"]
    assert (summary.checkpoint.accepted, summary.checkpoint.rejected, summary.checkpoint.complete) == (4, 1, True)
    assert [json.loads(line) for line in rejects.getvalue().splitlines()] == [
        {"row": 2, "errors": ["phone is not a phone number"], "values": {"Mobile": "bad", "First Name": "Ada"}}
    ]


def test_an_interrupted_import_resumes_after_the_last_answered_chunk_and_sends_no_row_twice(tmp_path: Path) -> None:
    bridge = FakeBridge()
    path = export(tmp_path, [f"+1510555{n:04d}" for n in range(10)])
    first = importer(bridge, tmp_path, io.StringIO())
    stop = iter([False, False, True])
    first.run(read_rows(path), interrupted=lambda: next(stop, True))
    done = Checkpoint.load(tmp_path / "state.json")
    assert done is not None
    assert 0 < done.rows_done < 10

    resumed = ContactImport(bridge.post, done, tmp_path / "state.json", io.StringIO(), sleep=lambda s: None)
    summary = resumed.run(read_rows(path))

    assert summary.checkpoint.complete
    assert sorted(bridge.queued) == [f"+1510555{n:04d}" for n in range(10)]  # each once


def test_a_chunk_whose_answer_was_lost_is_resent_with_the_same_key_and_not_queued_again(tmp_path: Path) -> None:
    bridge = FakeBridge()
    path = export(tmp_path, ["+15105550001", "+15105550002"])
    importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))
    # As if the answer had been lost: the run's checkpoint, back before the chunk
    lost = Checkpoint.load(tmp_path / "state.json")
    assert lost is not None
    lost.rows_done, lost.accepted, lost.complete = 0, 0, False

    again = ContactImport(bridge.post, lost, tmp_path / "state.json", io.StringIO(), sleep=lambda s: None).run(
        read_rows(path)
    )

    assert bridge.queued == ["+15105550001", "+15105550002"]
    assert again.checkpoint.repeated_chunks == 1


def test_a_corrected_mapping_imported_again_is_a_new_request_not_a_reused_key(tmp_path: Path) -> None:
    # Given an import made with the wrong column as the phone (every row rejected)
    bridge = FakeBridge()
    path = tmp_path / "contacts.csv"
    path.write_text("Mobile,Other\n+15105550001,bad\n+15105550002,bad\n")
    wrong = Checkpoint("f" * 64, "local", {"phone": "Other"}, 2)
    ContactImport(bridge.post, wrong, tmp_path / "state.json", io.StringIO(), sleep=lambda s: None).run(read_rows(path))

    # When it is started over with the right one
    right = Checkpoint("f" * 64, "local", {"phone": "Mobile"}, 2)
    summary = ContactImport(bridge.post, right, tmp_path / "state.json", io.StringIO(), sleep=lambda s: None).run(
        read_rows(path)
    )

    # Then the rows are queued
    assert summary.checkpoint.accepted == 2
    assert bridge.queued == ["+15105550001", "+15105550002"]


def test_an_import_started_over_sends_its_rows_again(tmp_path: Path) -> None:
    bridge = FakeBridge()
    path = export(tmp_path, ["+15105550001", "+15105550002"])
    importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))

    again = importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))  # --restart: a new checkpoint

    assert bridge.queued == ["+15105550001", "+15105550002"] * 2
    assert (again.checkpoint.accepted, again.checkpoint.repeated_chunks) == (2, 0)


def test_rows_the_bridge_answers_as_repeats_are_counted_as_not_queued(tmp_path: Path) -> None:
    # Given a bridge that queued these very contacts minutes ago
    bridge = FakeBridge(recent=True)
    path = export(tmp_path, ["+15105550001", "+15105550002", "+15105550003"])
    importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))

    again = importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))

    assert len(bridge.queued) == 3
    assert (again.checkpoint.accepted, again.checkpoint.repeated_rows, again.checkpoint.repeated_chunks) == (3, 3, 2)


def test_a_contact_accepted_with_a_warning_is_not_a_rejection(tmp_path: Path) -> None:
    bridge, rejects, warnings = FakeBridge(), io.StringIO(), io.StringIO()
    path = tmp_path / "contacts.csv"
    path.write_text("phone,email\n+15105550001,bad\n+15105550002,ada@example.com\n")
    checkpoint = Checkpoint("f" * 64, "local", {}, 2)

    summary = ContactImport(
        bridge.post, checkpoint, tmp_path / "state.json", rejects, warnings=warnings, sleep=lambda s: None
    ).run(read_rows(path))

    assert (summary.checkpoint.accepted, summary.checkpoint.rejected, summary.checkpoint.warned) == (2, 0, 1)
    assert rejects.getvalue() == ""
    assert [json.loads(line) for line in warnings.getvalue().splitlines()] == [
        {
            "row": 1,
            "warnings": ["email is not a valid address: the contact was queued without it"],
            "values": {"phone": "+15105550001", "email": "bad"},
        }
    ]


def test_a_503_is_retried_and_a_refusal_of_the_whole_chunk_stops_the_import(tmp_path: Path) -> None:
    path = export(tmp_path, ["+15105550001"])
    retried = FakeBridge(answers=[503, 503])
    assert importer(retried, tmp_path, io.StringIO()).run(read_rows(path)).checkpoint.accepted == 1
    assert retried.requests == 3

    refused = FakeBridge(answers=[401])
    with pytest.raises(ChunkFailed, match="HTTP 401"):
        importer(refused, tmp_path, io.StringIO()).run(read_rows(path))


def test_json_lines_rows_and_custom_fields_by_id_are_mapped() -> None:
    values = {"Mobile": "+15105550001", "Campus": "North", "email": "ada@example.com"}
    contact = to_contact(values, parse_mapping(["phone=Mobile", "custom.101=Campus"]))
    assert contact == {"phone": "+15105550001", "email": "ada@example.com", "custom": {"101": "North"}}


def test_an_unknown_field_in_map_is_refused_with_the_known_ones() -> None:
    with pytest.raises(CliError, match="unknown field 'mobile'; fields: phone"):
        parse_mapping(["mobile=Mobile"])


def test_an_unreadable_json_line_is_rejected_without_being_sent(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text('{"phone": "+15105550001"}\nnot json\n')
    rows = list(read_rows(path))
    assert rows[0].values == {"phone": "+15105550001"}
    assert rows[1].values is None
    assert rows[1].problem.startswith("not JSON")


# ---------------------------------------------------------------------- reading and checking the export


def test_spaces_around_a_map_s_field_and_column_are_not_part_of_them() -> None:
    assert parse_mapping(["phone = phone", " custom.101 =  Campus "]) == {"phone": "phone", "custom.101": "Campus"}


def test_a_full_name_column_is_split_into_first_and_last() -> None:
    contact = to_contact(
        {"Mobile": "+15105550001", "Full name": "Ada King Lovelace"}, parse_mapping(["phone=Mobile", "name=Full name"])
    )
    assert contact == {"phone": "+15105550001", "first": "Ada King", "last": "Lovelace"}


def test_a_semicolon_csv_is_read_by_its_header_s_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("Mobile;First Name\n+15105550001;Ada\n")

    export = read_export(path)

    assert (export.delimiter, export.columns) == (";", ("Mobile", "First Name"))
    assert export.rows[0].values == {"Mobile": "+15105550001", "First Name": "Ada"}


def test_a_map_column_the_file_does_not_have_is_refused_before_sending(tmp_path: Path) -> None:
    path = export(tmp_path, ["+15105550001"])

    with pytest.raises(CliError, match=r"--map phone=Mobil: .* has no such column .*'Mobile', 'First Name'"):
        check_export(read_export(path), parse_mapping(["phone=Mobil"]))


def test_a_file_without_a_phone_column_is_refused_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("Mobile,Name\n+15105550001,Ada\n")

    with pytest.raises(CliError, match=r"has no phone column .*--map phone=COLUMN"):
        check_export(read_export(path), {})


def test_a_json_array_file_is_read_as_its_contacts(tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text('[\n  {"phone": "+15105550001"},\n  {"phone": "+15105550002"}\n]\n')

    export = read_export(path)

    assert [row.values for row in export.rows] == [{"phone": "+15105550001"}, {"phone": "+15105550002"}]


def test_a_file_with_no_rows_is_refused_not_marked_imported(tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text("[]")

    with pytest.raises(CliError, match="holds no contact rows"):
        check_export(read_export(path), {})


def test_a_latin1_file_read_as_utf8_names_the_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes("phone,first\n+15105550001,Ren\xe9e\n".encode("latin-1"))

    with pytest.raises(CliError, match=r"is not utf-8 text .* line 2.*--encoding cp1252"):
        read_export(path)
    assert read_export(path, encoding="latin-1").rows[0].values == {"phone": "+15105550001", "first": "Renée"}


# ---------------------------------------------------------------------- the command


@pytest.fixture
def bridge_cli(monkeypatch: pytest.MonkeyPatch) -> FakeBridge:
    """`heymarket-bridge import` against a FakeBridge standing in for a local stack with a generic token."""
    from heymarket_bridge_tools.commands import import_contacts as importcli
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target

    bridge = FakeBridge(recent=True)
    target = Target(
        "local stack at http://127.0.0.1:3000",
        StackQueues("q", "d"),
        lambda service: None,
        "http://127.0.0.1:3000",
        local_secrets={"generic": "token"},
    )
    monkeypatch.setattr(importcli, "resolve", lambda **where: target)
    monkeypatch.setattr(importcli, "_poster", lambda url, token: bridge.post)
    return bridge


def test_an_import_run_again_soon_says_plainly_that_nothing_was_queued(
    bridge_cli: FakeBridge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heymarket_bridge_tools import cli

    path = export(tmp_path, ["+15105550001", "+15105550002"])
    assert cli.main(["import", str(path), "--map", "phone=Mobile"]) == 0
    capsys.readouterr()

    code = cli.main(["import", str(path), "--map", "phone=Mobile", "--restart"])

    out = capsys.readouterr().out
    assert code == 0
    assert "2 accepted, 0 rejected" in out
    assert "nothing was queued for 2 of the accepted contacts" in out
    assert len(bridge_cli.queued) == 2


def test_a_semicolon_export_with_a_spaced_map_is_imported(
    bridge_cli: FakeBridge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heymarket_bridge_tools import cli

    path = tmp_path / "contacts.csv"
    path.write_text("Mobile;First Name\n+15105550001;Ada\n+15105550002;Grace\n")

    code = cli.main(["import", str(path), "--map", "phone = Mobile", "--map", "first = First Name"])

    assert code == 0, capsys.readouterr()
    assert bridge_cli.queued == ["+15105550001", "+15105550002"]


def test_an_export_that_cannot_be_read_as_asked_is_refused_before_anything_is_sent(
    bridge_cli: FakeBridge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heymarket_bridge_tools import cli

    path = export(tmp_path, ["+15105550001"])

    code = cli.main(["import", str(path), "--map", "phone=Mobil"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("heymarket-bridge: error: --map phone=Mobil:")
    assert bridge_cli.requests == 0
    assert not (tmp_path / "contacts.csv.import.json").exists()
