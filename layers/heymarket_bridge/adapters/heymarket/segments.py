"""`heymarket_bridge.sync.ports.SegmentsPort` on Heymarket's documented tags and lists endpoints.

Shapes from shared/HEYMARKET_API.md ("Tags and lists") and shared/heymarket-examples/ (v1-tags.response.json,
v2-lists-create.*, v2-lists-update.*):

- `POST /v1/tags` `{}` answers up to 30 of the most recent tags, `[{"id", "tag", "color", "updated", ...}]`; the next
  (older) page is `{"date": <the updated of the last tag of the page>}`. Read until a page is short or brings no tag
  not seen yet (whether `date` is inclusive is not documented: repeats are dropped by id).
- `POST /v1/tag` `{"tag", "color"}` answers `{"id", "rev", "uuid"}`. The color is sent (grey): the reference shows
  it in every create and does not say it is optional.
- `POST /v2/lists` `{"title", "local_id", "type": "contacts"}` answers `{"id", "rev", "uuid"}`.
- `PUT /v2/lists/{id}` `{"add_phones": [...], "remove_phones": [...]}` answers `{"id", "rev"}`. Adding or removing a
  phone twice changes nothing, so a write whose answer was lost is simply sent again. The largest number of phones
  per request is not documented: `max_batch` (HeymarketMaxBatch) at most. A 400 or 413 for a chunk is the list's
  (archived, of another type: refused for every phone, found with two phones sent alone) or a phone's (halves until
  the refused phone is alone). A 404 is "no such list" only with Heymarket's error object as its body; what the
  error bodies look like is not documented (Heymarket's other APIs write `{"error_code", "message"}`).

Creates are another matter: a create that may have taken effect (no answer, a reset, a 5xx, a 2xx answer that cannot
be read: anything but a 429) is never sent again by this adapter; it says so (`outcome_unknown`) and the domain
decides (heymarket_bridge.sync.lists.steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, TypeVar

from heymarket_bridge.adapters.heymarket.client import HeymarketClient
from heymarket_bridge.adapters.heymarket.contacts.search import search_phones
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused, UnreadableAnswer
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp, misconfigured
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.sync.failures import ListGone
from heymarket_bridge.sync.model import ListChange, Tag

T = TypeVar("T")

TAGS_PER_PAGE: Final = 30  # "lists up to 30 of the most recent tags"
# A team with more tags than this is read in part (the names not found are reported as unknown, never guessed).
MAX_TAG_PAGES: Final = 200
TAG_COLOR: Final = "#808080"


class _CreateMayHaveLanded(Exception):
    """Carries a create's TransientFailure with outcome_unknown out of `retrying`, which must not send it again."""

    def __init__(self, failure: TransientFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class HeymarketSegments:
    """Tags and lists over the contact gateway's client (`V2Gateway.client`, `V1Gateway.client`), shared so that
    both keep the same pacing and deadline and what the client learned of the base URL."""

    def __init__(self, client: HeymarketClient, http: HeymarketHttp, *, max_batch: int) -> None:
        self._client = client
        self._http = http
        self._max_batch = max_batch

    # ------------------------------------------------------------------ tags

    def tags(self, deadline: Deadline) -> list[Tag]:
        return self._http.retrying(lambda: self._all_tags(deadline), deadline)

    def _all_tags(self, deadline: Deadline) -> list[Tag]:
        seen: dict[int, Tag] = {}
        body: dict[str, Any] = {}
        for _ in range(MAX_TAG_PAGES):
            try:
                page = self._read("POST", "/v1/tags", body, deadline, read_tags_page)
            except Refused as refused:
                raise PermanentFailure(
                    f"Heymarket refused to list the team's tags: {refused.reason}", request_id=refused.request_id
                ) from refused
            fresh = [(tag, updated) for tag, updated in page if tag.id not in seen]
            seen.update((tag.id, tag) for tag, _ in page)
            if len(page) < TAGS_PER_PAGE or not fresh:
                break
            last_updated = page[-1][1]
            if last_updated is None:
                raise TransientFailure(
                    "Heymarket's answer to POST /v1/tags is not of the documented shape: the last tag of a full "
                    "page has no updated date to ask for the next page with"
                )
            body = {"date": last_updated}
        return list(seen.values())

    def create_tag(self, name: str, deadline: Deadline) -> int:
        return self._create("POST", "/v1/tag", {"tag": name, "color": TAG_COLOR}, f"the tag {name!r}", deadline)

    # ------------------------------------------------------------------ lists

    def create_list(self, title: str, local_id: str, deadline: Deadline) -> int:
        body = {"title": title, "local_id": local_id, "type": "contacts"}
        return self._create("POST", "/v2/lists", body, f"the list {title!r}", deadline)

    def update_list(self, change: ListChange, deadline: Deadline) -> dict[str, GatewayFailure]:
        items = [(phone, True) for phone in change.add_phones] + [(phone, False) for phone in change.remove_phones]
        written = _ListWrite(change.list_id)
        for start in range(0, len(items), self._max_batch):
            chunk = items[start : start + self._max_batch]
            try:
                self._http.retrying(partial(self._put_chunk, written, chunk, deadline), deadline)
            except ConfigurationFailure:
                raise
            except NotFound as missing:
                gone = self._gone(change.list_id, missing)
                written.failed.update((phone, gone) for phone, _ in written.pending(items[start:]))
                break
            except GatewayFailure as failure:
                written.failed.update((phone, failure) for phone, _ in written.pending(chunk))
        return written.failed

    def _gone(self, list_id: int, missing: NotFound) -> ListGone:
        """A 404 for a list write: Heymarket's own answer (its error object) says the list is gone; any other 404 (a
        proxy's HTML page, an API gateway's `{"message": "Not Found"}`) says nothing of the list, and is a
        configuration failure (raised): its writes wait like every message while the bridge is misconfigured,
        instead of being dead-lettered with advice that would split the list."""
        if missing.heymarket_error:
            reason = f"Heymarket holds no list {list_id}: {missing.reason}"
            return ListGone(reason, request_id=missing.request_id)
        raise misconfigured(
            f"{missing.reason}: not Heymarket's answer for a missing list (no error_code in the body), so a proxy or "
            "HeymarketBaseUrl answered it",
            "A list write was answered 404 without Heymarket's error object: check HeymarketBaseUrl and any proxy",
            request_id=missing.request_id,
            list_id=list_id,
        ) from missing

    def _put_chunk(
        self, written: _ListWrite, items: list[tuple[str, bool]], deadline: Deadline, *, probe: bool = True
    ) -> None:
        """One `PUT /v2/lists/{id}` for the phones of `items` not settled yet. A refusal (400, 413) is the list's or
        a phone's: with `probe`, one phone is tried alone, then another (`_list_refuses`); else, or once the refusal
        is known to be a phone's, the phones are split in halves until the refused one is alone."""
        items = written.pending(items)
        if not items:
            return
        try:
            self._put(written.list_id, items, deadline)
        except Refused as refused:
            if written.refuses_all(refused):
                written.refuse(items, written.list_failure(refused))
            elif len(items) == 1:
                written.refuse(items, written.phone_failure(refused))
            elif probe and self._list_refuses(written, items, refused, deadline):
                written.refuse(items, written.list_failure(refused))
            else:
                middle = len(items) // 2
                self._put_chunk(written, items[:middle], deadline, probe=False)
                self._put_chunk(written, items[middle:], deadline, probe=False)
            return
        written.done.update(phone for phone, _ in items)

    def _list_refuses(
        self, written: _ListWrite, items: list[tuple[str, bool]], refused: Refused, deadline: Deadline
    ) -> bool:
        """Whether a refused chunk was refused for the list (an archived list, a list that is not of contacts) rather
        than for a phone: the first and the last phone, each sent alone, are refused with the very answer the chunk
        got. Two requests, instead of the 2n - 1 that splitting n phones down to one each would cost; a probe that
        passes (or is refused otherwise) is settled, and the chunk split as for a phone's refusal."""
        for item in (items[0], items[-1]):
            try:
                self._put(written.list_id, [item], deadline)
            except Refused as alone:
                if _same_answer(alone, refused):
                    continue
                written.refuse([item], written.phone_failure(alone))
                return False
            written.done.add(item[0])
            return False
        written.list_refusal = refused
        return True

    def _put(self, list_id: int, items: list[tuple[str, bool]], deadline: Deadline) -> None:
        body: dict[str, list[str]] = {}
        adds = [phone for phone, adding in items if adding]
        removes = [phone for phone, adding in items if not adding]
        if adds:
            body["add_phones"] = adds
        if removes:
            body["remove_phones"] = removes
        self._read("PUT", f"/v2/lists/{list_id}", body, deadline, read_list_update, resource=True)

    def opted_out(self, phones: Sequence[str], deadline: Deadline) -> dict[str, bool | GatewayFailure]:
        lookup = self._http.retrying(lambda: search_phones(self._client, phones, deadline), deadline)
        held: dict[str, bool | GatewayFailure] = dict(lookup.refused)
        for phone, contacts in lookup.found.items():
            if contacts:  # oldest first: the one the bridge keeps up to date
                held[phone] = contacts[0].fields.get("is_opted_out") is True
        return held

    # ------------------------------------------------------------------ requests

    def _create(self, method: str, path: str, body: Any, what: str, deadline: Deadline) -> int:
        """A create: sent again only when it surely did not take effect (429, no connection); refused: Permanent."""

        def attempt() -> int:
            try:
                data = self._read(method, path, body, deadline, lambda data: data)
            except Refused as refused:
                raise PermanentFailure(
                    f"Heymarket refused to create {what}: {refused.reason}", request_id=refused.request_id
                ) from refused
            except TransientFailure as failure:
                if failure.throttled:
                    raise  # a 429: Heymarket did nothing, the create may be sent again
                # Anything else may have taken effect: an answer lost or cut off, a 5xx, a 2xx that is not JSON.
                # (A request that was never sent is counted here too: asking again later is right either way.)
                raise _CreateMayHaveLanded(_unknown(failure)) from failure
            try:
                return read_created(data)
            except UnreadableAnswer as exc:
                raise _CreateMayHaveLanded(
                    TransientFailure(
                        f"Heymarket's answer to {method} {path} is not of the documented shape ({exc}): {what} may "
                        "have been created",
                        outcome_unknown=True,
                    )
                ) from exc

        try:
            return self._http.retrying(attempt, deadline)
        except _CreateMayHaveLanded as unknown:
            raise unknown.failure from None

    def _read(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> T:
        return self._client.read(method, path, body, deadline, reader, resource=resource)


@dataclass
class _ListWrite:
    """The phones of one `update_list` settled so far (kept across retries of a chunk), and the refusal Heymarket
    gave for the list as a whole, once two phones alone got it too."""

    list_id: int
    done: set[str] = field(default_factory=set)
    failed: dict[str, GatewayFailure] = field(default_factory=dict)
    list_refusal: Refused | None = None

    def pending(self, items: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
        return [(phone, adding) for phone, adding in items if phone not in self.failed and phone not in self.done]

    def refuses_all(self, refused: Refused) -> bool:
        return self.list_refusal is not None and _same_answer(refused, self.list_refusal)

    def refuse(self, items: Sequence[tuple[str, bool]], failure: PermanentFailure) -> None:
        self.failed.update((phone, failure) for phone, _ in items)

    def phone_failure(self, refused: Refused) -> PermanentFailure:
        return PermanentFailure(
            f"Heymarket refused to change list {self.list_id} for the phone: {refused.reason}",
            request_id=refused.request_id,
        )

    def list_failure(self, refused: Refused) -> PermanentFailure:
        return PermanentFailure(
            f"Heymarket refuses every change to list {self.list_id}, whatever the phone ({refused.reason}): the list "
            "itself is refused (archived, or not a list of contacts?); fix it in Heymarket or name another list, "
            "then redrive",
            request_id=refused.request_id,
        )


def _same_answer(one: Refused, other: Refused) -> bool:
    """Two refusals alike: the same status and the same error text (request ids differ)."""
    return (one.status, one.reason) == (other.status, other.reason)


def _unknown(failure: TransientFailure) -> TransientFailure:
    if failure.outcome_unknown:
        return failure
    return TransientFailure(failure.reason, request_id=failure.request_id, outcome_unknown=True)


# ------------------------------------------------------------------ answers (strict, like answers.py)


def read_tags_page(data: Any) -> list[tuple[Tag, str | None]]:
    """A page of `POST /v1/tags`: an array of tag objects, each with an integer `id` and a `tag` name; with the
    `updated` date of each (None if absent), to ask for the next page."""
    if not isinstance(data, list):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not an array of tags")
    page: list[tuple[Tag, str | None]] = []
    for n, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise UnreadableAnswer(f"tag {n} is {_kind(item)}, not an object")
        tag_id, name, updated = item.get("id"), item.get("tag"), item.get("updated")
        if isinstance(tag_id, bool) or not isinstance(tag_id, int) or not isinstance(name, str):
            raise UnreadableAnswer(f"tag {n} has no integer id and tag name")
        page.append((Tag(tag_id, name), updated if isinstance(updated, str) and updated else None))
    return page


def read_created(data: Any) -> int:
    """`POST /v1/tag` and `POST /v2/lists` answer `{"id": 42, "rev": 1, "uuid": "..."}`: the integer id."""
    if not isinstance(data, Mapping):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not {{id, rev, uuid}}")
    created = data.get("id")
    if isinstance(created, bool) or not isinstance(created, int):
        raise UnreadableAnswer("the answer has no integer id")
    return created


def read_list_update(data: Any) -> int:
    """`PUT /v2/lists/{id}` answers `{"id": 42, "rev": 2}`."""
    return read_created(data)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else "a number or boolean"
