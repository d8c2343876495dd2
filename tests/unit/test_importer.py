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
    parse_mapping,
    read_rows,
    to_contact,
)


class FakeBridge:
    """The generic webhook: rejects contacts whose phone is 'bad', remembers Idempotency-Keys like the bridge."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])  # statuses to answer first (e.g. 503)
        self.queued: list[str] = []
        self.keys: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, Mapping[str, str]]:
        self.requests += 1
        if self.answers:
            return self.answers.pop(0), b'{"message": "Service Unavailable"}', {}
        key = headers["Idempotency-Key"]
        if key in self.keys:
            return 202, json.dumps({**self.keys[key], "duplicate": True}).encode(), {}
        contacts = json.loads(body)["contacts"]
        rejected = [
            {"index": i, "errors": ["phone is not a phone number"]}
            for i, c in enumerate(contacts)
            if c.get("phone") == "bad"
        ]
        accepted = [c["phone"] for c in contacts if c.get("phone") != "bad"]
        self.queued += accepted
        self.keys[key] = {"accepted": len(accepted), "rejected": rejected}
        return 202, json.dumps(self.keys[key]).encode(), {}


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

    again = importer(bridge, tmp_path, io.StringIO()).run(read_rows(path))  # as if the checkpoint was never saved

    assert bridge.queued == ["+15105550001", "+15105550002"]
    assert again.checkpoint.repeated_chunks == 1


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
