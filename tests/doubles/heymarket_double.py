"""A small in-memory Heymarket at the HTTP client's seam (the urllib3 pool), for unit tests of the adapter.

It answers the contact endpoints in the documented shapes (tests/contract/heymarket_examples/), keeps a log of the
requests, and lets a test script the next answers of a route (`script("POST /v2/contacts", (500, {...}))`) to
play faults. The undocumented behaviours are settings: `duplicate_create` ("refuse", "update", "duplicate"),
`uuids` (whether Contact objects carry their UUID), `list_local_id_repeat` ("existing", "refuse", "duplicate") and
`update_omitted` ("keep", "clear": whether an update keeps the fields it leaves out). `down` answers every request
500; `during(route, action)` runs an action (another invocation, say) when the route is next requested, before it is
answered. Tags (`POST /v1/tags` 30 a page by `date`, `POST /v1/tag`) and lists (`POST /v2/lists`,
`PUT /v2/lists/{id}`) are played as documented; `lists` holds each list's title, local_id and member phones.
The project's sandbox (tools/heymarket_sandbox/) plays the same contract independently, over HTTP, for the
integration and end-to-end tests; tests/contract/test_double_contract.py holds this double's answers to the
documented shapes as test_sandbox_contract.py holds the sandbox's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Any], Answer]


class FakeResponse:
    """The part of urllib3's HTTPResponse the client uses."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = {"X-Request-Id": f"req-{uuid.uuid4().hex[:8]}", **headers}
        self._body = body
        self.connection = None

    def read1(self, amount: int) -> bytes:
        chunk, self._body = self._body[:amount], self._body[amount:]
        return chunk

    def release_conn(self) -> None:
        pass


# The Contact object's documented fields (tests/contract/heymarket_examples/v2-contacts-search.response.json) that a
# contact's own fields do not set, as Heymarket shows a contact without them: empty texts, no custom values or tags,
# unassigned (0), opted in. `updated` is left empty unless a test sets it, so that each test says what Heymarket shows
# of the last change (the re-consent rule reads it). tests/contract/test_double_contract.py holds these answers to
# the documented shapes.
CONTACT_DEFAULTS: dict[str, Any] = {
    "first": "",
    "last": "",
    "email": "",
    "custom": {},
    "team_id": 7,
    "creator_id": 3,
    "shared": True,
    "created": "2026-01-10T08:00:00Z",
    "updated": "",
    "rev": 1,
    "op": "create",
    "assigned_user_id": 0,
    "tags": [],
    "is_opted_out": False,
}


@dataclass
class StoredContact:
    id: int
    uuid: str
    fields: dict[str, Any]

    def as_answer(self, with_uuid: bool) -> dict[str, Any]:
        """The Contact object: the contact's fields over the documented defaults; `uuid` next to `id` if `with_uuid`."""
        first, last = self.fields.get("first"), self.fields.get("last")
        derived = " ".join(part for part in (first, last) if isinstance(part, str) and part)
        answer = {"id": self.id, "display_name": derived, **CONTACT_DEFAULTS, **self.fields}
        if with_uuid:
            answer["uuid"] = self.uuid
        return answer


@dataclass
class DoubleList:
    id: int
    title: str
    local_id: str
    phones: list[str] = field(default_factory=list)


@dataclass
class HeymarketDouble:
    duplicate_create: str = "refuse"
    uuids: bool = True
    list_local_id_repeat: str = "existing"
    update_omitted: str = "keep"
    down: bool = False
    contacts: list[StoredContact] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)  # {"id", "tag", "updated"}, oldest first
    lists: list[DoubleList] = field(default_factory=list)
    _tag_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(55))
    _list_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(42))
    log: list[tuple[str, Any]] = field(default_factory=list)
    _scripts: dict[str, list[Answer | Handler]] = field(default_factory=dict)
    _actions: dict[str, list[Callable[[], None]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(98765))

    # ---------------------------------------------------------------- test API

    def add(self, phone: str, **fields: Any) -> StoredContact:
        contact = StoredContact(next(self._ids), str(uuid.uuid4()), {"phone": phone, **fields})
        self.contacts.append(contact)
        return contact

    def add_tag(self, name: str, color: str = "#808080") -> int:
        """A tag made in Heymarket's app, newer than every other (its `updated` one second after the last), in the
        documented shape (v1-tags.response.json)."""
        tag_id = next(self._tag_ids)
        updated = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=len(self.tags))).isoformat()
        self.tags.append(
            {"id": tag_id, "tag": name, "color": color, "team_id": 7, "created": updated, "updated": updated, "rev": 1}
        )
        return tag_id

    def add_list(self, title: str) -> int:
        """A list made in Heymarket's app."""
        made = DoubleList(next(self._list_ids), title, f"app-{title}")
        self.lists.append(made)
        return made.id

    def unscript(self, route: str) -> None:
        """Forget the answers scripted for `route` that were not used."""
        self._scripts.pop(route, None)

    def list_titled(self, title: str) -> list[DoubleList]:
        return [item for item in self.lists if item.title == title]

    def holding(self, phone: str) -> list[StoredContact]:
        return [c for c in self.contacts if c.fields.get("phone") == phone]

    def script(self, route: str, *answers: Answer | Handler) -> None:
        """The next answers of `route` ("METHOD /path" without query; "/v2/contact/*" for any id)."""
        self._scripts.setdefault(route, []).extend(answers)

    def routes(self) -> list[str]:
        return [route for route, _ in self.log]

    def during(self, route: str, action: Callable[[], None]) -> None:
        """Run `action` when `route` is next requested, before it is answered."""
        self._actions.setdefault(route, []).append(action)

    # ---------------------------------------------------------------- the pool seam

    def request(self, method: str, url: str, body: bytes | None = None, **_: Any) -> FakeResponse:
        split = urlsplit(url)
        route = f"{method} {split.path}"
        data = json.loads(body) if body else None
        self.log.append((route, data))
        if self._actions.get(route):
            self._actions[route].pop(0)()
        if self.down:
            return FakeResponse(500, b'{"error_code": "internal"}', {})
        wildcard = f"{method} {split.path.rsplit('/', 1)[0]}/*"
        script = self._scripts.get(route) or self._scripts.get(wildcard)
        if script:
            step = script.pop(0)
            answer = step(data) if callable(step) else step
        else:
            answer = self._answer(method, split.path, parse_qs(split.query), data)
        status, payload, *rest = answer
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return FakeResponse(status, raw, rest[0] if rest else {})

    def _answer(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> Answer:
        if (method, path) == ("POST", "/v2/contacts/search"):
            phones = data["contact_channels"][0]["channel_ids"]
            return 200, [c.as_answer(self.uuids) for c in self.contacts if c.fields.get("phone") in phones]
        if (method, path) == ("POST", "/v2/contacts"):
            return self._bulk(data["contacts"])
        if (method, path) == ("DELETE", "/v2/contacts"):
            ids = data["contact_channels"][0]["channel_ids"]
            self.contacts = [c for c in self.contacts if c.uuid not in ids]
            return 200, "ok"
        if method == "GET" and path.startswith("/v2/contact/"):
            found = [c for c in self.contacts if c.uuid == path.rsplit("/", 1)[1]]
            return (200, found[0].as_answer(self.uuids)) if found else (404, {"error_code": "not_found"})
        if path.startswith("/v1/contact/") and path != "/v1/contact/get":
            return self._v1_contact(method, int(path.rsplit("/", 1)[1]), data)
        if (method, path) == ("POST", "/v1/contact-fields"):
            return 200, self.fields
        if (method, path) == ("GET", "/v1/inboxes"):
            return 200, [{"id": 1}]
        if (method, path) == ("POST", "/v1/batch/contacts"):
            # A phone that is not E.164 digits is listed as failed, as sent (v1-batch-contacts.response-some-failed).
            failed = [item for item in data if not str(item.get("phone", "")).isdigit()]
            return 200, failed or "ok"
        if (method, path) == ("POST", "/v1/tags"):
            newest_first = sorted(self.tags, key=lambda tag: tag["updated"], reverse=True)
            if "date" in data:
                newest_first = [tag for tag in newest_first if tag["updated"] < data["date"]]
            return 200, newest_first[:30]
        if (method, path) == ("POST", "/v1/tag"):
            return 200, {
                "id": self.add_tag(data["tag"], data.get("color", "#808080")),
                "rev": 1,
                "uuid": str(uuid.uuid4()),
            }
        if (method, path) == ("POST", "/v2/lists"):
            return self._create_list(data)
        if method == "PUT" and path.startswith("/v2/lists/"):
            return self._update_list(int(path.rsplit("/", 1)[1]), data)
        return 404, b"<html>not found</html>"

    def _create_list(self, data: dict[str, Any]) -> Answer:
        existing = [item for item in self.lists if item.local_id == data["local_id"]]
        if existing and self.list_local_id_repeat == "existing":
            return 200, {"id": existing[0].id, "rev": 1, "uuid": str(uuid.uuid4())}
        if existing and self.list_local_id_repeat == "refuse":
            return 400, {"error_code": "bad_data", "message": "local_id: a list with this local_id exists"}
        created = DoubleList(next(self._list_ids), data["title"], data["local_id"], list(data.get("phones", [])))
        self.lists.append(created)
        return 200, {"id": created.id, "rev": 1, "uuid": str(uuid.uuid4())}

    def _update_list(self, list_id: int, data: dict[str, Any]) -> Answer:
        found = [item for item in self.lists if item.id == list_id]
        if not found:
            return 404, {"error_code": "not_found", "message": "id: no list has this id"}
        for phone in data.get("add_phones", []):
            if not self.holding(phone):
                self.add(phone)  # documented: an unknown phone becomes a new contact
            if phone not in found[0].phones:
                found[0].phones.append(phone)
        found[0].phones = [phone for phone in found[0].phones if phone not in data.get("remove_phones", [])]
        return 200, {"id": list_id, "rev": 2}

    def _bulk(self, items: list[dict[str, Any]]) -> Answer:
        stored: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for item in items:
            fields = {k: v for k, v in item.items() if k not in ("contact_id", "contact_channels")}
            if "contact_id" in item:
                found = [c for c in self.contacts if c.uuid == item["contact_id"]]
                if not found:
                    failed.append({"contact": item, "error": "no such contact"})
                    continue
                self._update(found[0], fields)
                stored.append(found[0].as_answer(self.uuids))
                continue
            phone = item.get("phone") or _channel_phone(item)  # the phone field, else the phone channel
            holders = self.holding(phone)
            if holders and self.duplicate_create == "refuse":
                failed.append({"contact": item, "error": "phone taken"})
            elif holders and self.duplicate_create == "update":
                self._update(holders[0], fields)
                stored.append(holders[0].as_answer(self.uuids))
            else:
                stored.append(self.add(**{**fields, "phone": phone}).as_answer(self.uuids))
        return 200, {"contacts": stored, "failed_contacts": failed}

    def _update(self, contact: StoredContact, fields: dict[str, Any]) -> None:
        if self.update_omitted == "clear":
            contact.fields = {"phone": contact.fields.get("phone"), **fields}
        else:
            contact.fields.update(fields)

    def _v1_contact(self, method: str, contact_id: int, data: Any) -> Answer:
        found = [c for c in self.contacts if c.id == contact_id]
        if not found:
            return 404, {"error_code": "not_found", "message": "contact not found"}
        if method == "DELETE":
            self.contacts.remove(found[0])
            return 200, "ok"
        if method == "PUT":
            self._update(found[0], dict(data))
            return 200, {"id": contact_id, "rev": 2, "uuid": found[0].uuid}
        return 200, found[0].as_answer(self.uuids)


def _channel_phone(item: dict[str, Any]) -> str | None:
    """The phone channel of a v2 contact item (`contact_channels`), if any."""
    for channel in item.get("contact_channels") or []:
        if channel.get("channel_type") == "phone":
            return str(channel["channel_id"])
    return None
