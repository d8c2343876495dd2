"""Account for every contact a load or fault run sent: delivered, dead-lettered with a reason, or lost.

Used by the guarantee tests (tests/e2e/test_guarantees.py) and the benchmarks (`make bench`):

- `distinct_phones` makes distinct valid phone numbers, `load_contact` a contact whose fields say which one it is;
- `post_webhooks` posts webhooks from several concurrent senders over HTTP, as senders do;
- `WriteRecorder` records every contact write the Heymarket sandbox stores (through its write hook), so that a
  contact written twice can be checked to be the same upsert repeated (a retry after a lost answer), never
  different values, and follows each contact's opt-out (the sandbox's STOP and START texts included), so that a
  contact the bridge turned from opted out to opted in is caught (`opted_back_in`: never, at default settings);
- `audit` checks the zero-loss invariant contact by contact, not by counts: every contact answered 202 ends in
  Heymarket with the values it was sent with, or in the DLQ with a reason; none is lost. Given every version accepted
  for a phone (`history`), it also checks that no contact ends with older values than the newest accepted for it,
  and that no stored phone carries another person's fields (a name or email only another phone was accepted with).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import urllib3

from heymarket_bridge.domain.e164 import phone_digits
from heymarket_sandbox import ContactWrite, HeymarketSandbox

# Fields of a write that say where it goes, not what it holds.
_ADDRESSING: Final = frozenset({"contact_id", "contact_channels"})
# Fields that say whose contact it is: held by a phone never accepted with them, they are another person's.
_PERSONAL: Final = ("first", "last", "email")


def distinct_phones(count: int, *, area_code: str = "415") -> list[str]:
    """`count` distinct US numbers (E.164 digits without '+') that the bridge accepts as valid."""
    import phonenumbers  # the layer's dependency; imported here so that importing this module stays cheap

    phones: list[str] = []
    for exchange in range(201, 1000):
        if exchange % 100 == 11 or exchange == 555:  # N11 and the 555 exchange are not ordinary numbers
            continue
        prefix = f"1{area_code}{exchange:03d}"
        if not phonenumbers.is_valid_number(phonenumbers.parse(f"+{prefix}0000")):
            continue
        for line in range(10_000):
            phones.append(f"{prefix}{line:04d}")
            if len(phones) == count:
                return phones
    raise ValueError(f"cannot make {count} distinct numbers in area code {area_code}")


def load_contact(phone: str, index: int, run: str = "load") -> dict[str, Any]:
    """A contact as a sender posts it (phone with '+'), whose names identify it among the others of the run."""
    return {"phone": f"+{phone}", "first": f"F{index}", "last": f"{run}-{index}", "email": f"c{index}@example.com"}


def expected_fields(contact: Mapping[str, Any]) -> dict[str, Any]:
    """What Heymarket must hold for a contact posted as `load_contact` made it."""
    return {name: value for name, value in contact.items() if name != "phone"}


@dataclass(frozen=True)
class PostResult:
    index: int
    status: int  # 0: no answer at all (the connection failed)
    body: Any
    seconds: float


def post_webhooks(
    url: str,
    bodies: Sequence[Any],
    *,
    headers: Mapping[str, str],
    senders: int = 8,
    timeout_s: float = 30.0,
) -> list[PostResult]:
    """POST each JSON body to `url` from `senders` concurrent senders (one keep-alive connection each)."""
    local = threading.local()

    def post(index: int) -> PostResult:
        pool: urllib3.PoolManager | None = getattr(local, "pool", None)
        if pool is None:
            pool = local.pool = urllib3.PoolManager(maxsize=1, retries=False, timeout=timeout_s)
        started = time.perf_counter()
        try:
            response = pool.request(
                "POST",
                url,
                body=json.dumps(bodies[index]),
                headers={"Content-Type": "application/json", **headers},
            )
        except urllib3.exceptions.HTTPError as error:
            return PostResult(index, 0, str(error), time.perf_counter() - started)
        try:
            body = json.loads(response.data)
        except ValueError:
            body = response.data.decode("utf-8", "replace")
        return PostResult(index, response.status, body, time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="load-sender") as executor:
        return list(executor.map(post, range(len(bodies))))


@dataclass(frozen=True)
class Write:
    phone: str
    fields: dict[str, Any]  # what the write set, without its addressing (contact_id, channels)
    at: float  # time.monotonic() when the sandbox stored it


class WriteRecorder:
    """Records every contact create and update a sandbox stores (from any endpoint), by phone.

    It listens to the sandbox's writes (`HeymarketSandbox.add_write_listener`) for as long as it is entered;
    writes the sandbox refuses are not recorded, nor are deletes, nor STOP and START texts (op "text"), which only
    move each contact's opt-out as `opted_back_in` follows it.
    """

    def __init__(self, sandbox: HeymarketSandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self.writes: list[Write] = []
        self._remove: Callable[[], None] | None = None
        self._opted_out: dict[int, bool] = {}  # contact id -> whether it is opted out, as the last change left it
        self._opted_back_in: list[str] = []

    def __enter__(self) -> WriteRecorder:
        if self._remove is None:
            self._remove = self._sandbox.add_write_listener(self._record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        remove, self._remove = self._remove, None
        if remove is not None:
            remove()

    def _record(self, change: ContactWrite) -> None:
        self._follow_opt_out(change)
        if change.op in ("delete", "text") or not isinstance(change.sent, dict):
            return
        fields = {name: value for name, value in change.sent.items() if name not in _ADDRESSING and name != "phone"}
        with self._lock:
            self.writes.append(Write(str(change.contact["phone"]), fields, time.monotonic()))

    def _follow_opt_out(self, change: ContactWrite) -> None:
        """Note a write through the API (not a text) that left an opted-out contact opted in."""
        contact_id, opted_out = change.contact.get("id"), change.contact.get("is_opted_out")
        if not isinstance(contact_id, int):
            return
        with self._lock:
            if change.op == "delete":
                self._opted_out.pop(contact_id, None)
                return
            if change.op != "text" and self._opted_out.get(contact_id) is True and opted_out is False:
                self._opted_back_in.append(str(change.contact.get("phone")))
            self._opted_out[contact_id] = opted_out is True

    def opted_back_in(self) -> list[str]:
        """Phones whose contact, opted out (by a write or a STOP text), an API write opted back in, in order."""
        with self._lock:
            return list(self._opted_back_in)

    def by_phone(self) -> dict[str, list[Write]]:
        with self._lock:
            writes = list(self.writes)
        grouped: dict[str, list[Write]] = {}
        for write in writes:
            grouped.setdefault(write.phone, []).append(write)
        return grouped


@dataclass
class Audit:
    """The fate of every contact answered 202, checked one by one."""

    accepted: int
    delivered: set[str] = field(default_factory=set)
    dead_lettered: dict[str, str] = field(default_factory=dict)  # phone -> the reason its letter gives
    lost: list[str] = field(default_factory=list)  # neither in Heymarket nor in the DLQ
    wrong_values: list[str] = field(default_factory=list)  # in Heymarket, but not with the values sent
    older_values: list[str] = field(default_factory=list)  # in Heymarket with a version older than the newest accepted
    letters_without_reason: list[str] = field(default_factory=list)
    written_more_than_once: int = 0  # phones the sandbox stored twice or more (retries after a lost answer)
    divergent_writes: list[str] = field(default_factory=list)  # written twice with DIFFERENT values: never allowed
    unexpected: list[str] = field(default_factory=list)  # phones Heymarket holds that no 202 accepted
    duplicated: list[str] = field(default_factory=list)  # phones more than one Heymarket contact holds
    # Phones whose contact holds a name or email that only ANOTHER phone was accepted with: another person's.
    foreign_fields: list[str] = field(default_factory=list)
    opted_back_in: list[str] = field(default_factory=list)  # opted out, then opted in by a write: never allowed

    @property
    def ok(self) -> bool:
        return not (
            self.opted_back_in
            or self.lost
            or self.wrong_values
            or self.older_values
            or self.letters_without_reason
            or self.divergent_writes
            or self.unexpected
            or self.duplicated
            or self.foreign_fields
        )

    def summary(self) -> str:
        return (
            f"{self.accepted} accepted: {len(self.delivered)} delivered, {len(self.dead_lettered)} dead-lettered "
            f"with a reason, {len(self.lost)} lost, {len(self.wrong_values)} with wrong values, "
            f"{len(self.older_values)} with older values than the newest accepted, "
            f"{self.written_more_than_once} written more than once (same values), "
            f"{len(self.divergent_writes)} written with different values, "
            f"{len(self.letters_without_reason)} dead letters without a reason, {len(self.unexpected)} unexpected, "
            f"{len(self.duplicated)} phones held by more than one contact, "
            f"{len(self.foreign_fields)} phones with another person's fields, "
            f"{len(self.opted_back_in)} opted back in by a write"
        )

    def problems(self, limit: int = 5) -> str:
        """The first few contacts of each kind of violation, for an assertion message."""
        parts = [
            f"{name}: {values[:limit]}"
            for name, values in (
                ("lost", self.lost),
                ("wrong values", self.wrong_values),
                ("older values", self.older_values),
                ("letters without reason", self.letters_without_reason),
                ("divergent writes", self.divergent_writes),
                ("unexpected", self.unexpected),
                ("duplicated", self.duplicated),
                ("another person's fields", self.foreign_fields),
                ("opted back in", self.opted_back_in),
            )
            if values
        ]
        return self.summary() + ("; " + "; ".join(parts) if parts else "")


def audit(
    accepted: Mapping[str, Mapping[str, Any]],
    stored: Sequence[Mapping[str, Any]],
    dead_letter_bodies: Sequence[str],
    writes: Mapping[str, Sequence[Write]] | None = None,
    history: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    opted_back_in: Sequence[str] = (),
) -> Audit:
    """Check the zero-loss invariant for `accepted` (phone -> the fields Heymarket must hold: the newest accepted).

    A contact both stored and dead-lettered counts as delivered: its write took effect but its answer was lost,
    and it was refused on a later try; both places name it, so it is not lost. `history` (phone -> every version
    accepted for it, oldest first): a contact holding an older version counts in `older_values`, and writes of
    different accepted versions of one contact are not divergent (a write must match one of them).
    `opted_back_in` (`WriteRecorder.opted_back_in`): phones a write opted back in after an opt-out; any fails it.
    """
    result = Audit(accepted=len(accepted), opted_back_in=list(opted_back_in))
    by_phone = {str(contact["phone"]): contact for contact in stored}
    holders = Counter(str(contact["phone"]) for contact in stored)
    result.duplicated = sorted(phone for phone, count in holders.items() if count > 1)
    reasons = dict(_dead_lettered(dead_letter_bodies, result))
    for phone, fields in accepted.items():
        contact = by_phone.get(phone)
        if contact is not None:
            _check_stored(result, phone, contact, fields, (history or {}).get(phone, []))
        elif phone in reasons:
            result.dead_lettered[phone] = reasons[phone]
        else:
            result.lost.append(phone)
    result.unexpected = sorted(set(by_phone) - set(accepted))
    result.foreign_fields = _foreign_fields(stored, accepted, history or {})
    for phone, phone_writes in (writes or {}).items():
        if len(phone_writes) > 1:
            result.written_more_than_once += 1
            if _divergent(phone_writes, (history or {}).get(phone)):
                result.divergent_writes.append(phone)
    return result


def _check_stored(
    result: Audit,
    phone: str,
    contact: Mapping[str, Any],
    fields: Mapping[str, Any],
    versions: Sequence[Mapping[str, Any]],
) -> None:
    """Count a stored contact as delivered, holding an older accepted version, or holding wrong values."""
    if _holds(contact, fields):
        result.delivered.add(phone)
        return
    older = any(_holds(contact, version) for version in versions)
    (result.older_values if older else result.wrong_values).append(phone)


def _divergent(phone_writes: Sequence[Write], accepted_versions: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether one phone's writes disagree: one matches none of its accepted versions, or (without a history)
    one conflicts with the first."""
    if accepted_versions:
        return any(all(_conflict(write.fields, version) for version in accepted_versions) for write in phone_writes)
    return any(_conflict(write.fields, phone_writes[0].fields) for write in phone_writes[1:])


def _foreign_fields(
    stored: Sequence[Mapping[str, Any]],
    accepted: Mapping[str, Mapping[str, Any]],
    history: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """Stored phones holding a value of `_PERSONAL` that only other phones were accepted with (any version)."""
    owners: dict[tuple[str, str], set[str]] = {}
    for phone, versions in {**{p: [fields] for p, fields in accepted.items()}, **history}.items():
        for version in versions:
            for name in _PERSONAL:
                if version.get(name):
                    owners.setdefault((name, json.dumps(version[name])), set()).add(phone)
    foreign: set[str] = set()
    for contact in stored:
        phone = str(contact["phone"])
        for name in _PERSONAL:
            holders = owners.get((name, json.dumps(contact.get(name)))) if contact.get(name) else None
            if holders and phone not in holders:
                foreign.add(phone)
    return sorted(foreign)


def _holds(contact: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(contact.get(name) == value for name, value in fields.items())


def _conflict(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Two writes of one contact say different values for a field both carry (a retry may say more, never else)."""
    return any(one[name] != other[name] for name in one.keys() & other.keys())


def _dead_lettered(bodies: Sequence[str], result: Audit) -> Iterator[tuple[str, str]]:
    for body in bodies:
        letter = json.loads(body)
        contact = letter.get("contact") or {}
        phone = phone_digits(contact.get("phone"))
        reason = str(letter.get("error") or "").strip()
        if not reason:
            result.letters_without_reason.append(phone or body[:80])
            continue
        if phone:
            yield phone, reason


def accepted_contacts(results: Sequence[PostResult], bodies: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Phone -> expected fields of every contact in a webhook answered 202 (generic source, all contacts accepted)."""
    accepted: dict[str, dict[str, Any]] = {}
    for result in results:
        if result.status != 202:
            continue
        body = bodies[result.index]
        contacts = body["contacts"] if isinstance(body, dict) and "contacts" in body else body
        for contact in contacts if isinstance(contacts, list) else [contacts]:
            accepted[str(contact["phone"]).lstrip("+")] = expected_fields(contact)
    return accepted
