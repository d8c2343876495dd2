"""`heymarket_bridge.segments.SegmentsPort` on Heymarket's documented tags and lists endpoints.

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
  per request is not documented: `max_batch` (HeymarketMaxBatch) at most, halves on a 400 or 413 until the refused
  phone is found.

Creates are another matter: a create that may have taken effect (no answer, a reset, a 5xx, a 2xx answer that cannot
be read: anything but a 429) is never sent again by this adapter; it says so (`outcome_unknown`) and the domain
decides (segmenting).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final, TypeVar

from heymarket_bridge.adapters.heymarket.answers import UnreadableAnswer
from heymarket_bridge.adapters.heymarket.gateway import V1Gateway, V2Gateway
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp, NotFound, Refused
from heymarket_bridge.heymarket_port import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.segments import ListChange, ListGone, Tag

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
    """Tags and lists, through the contact gateway's requests (same pacing, deadline, base URL checks)."""

    def __init__(self, gateway: V2Gateway | V1Gateway, http: HeymarketHttp, *, max_batch: int) -> None:
        self._gateway = gateway
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
        failed: dict[str, GatewayFailure] = {}
        for start in range(0, len(items), self._max_batch):
            chunk = items[start : start + self._max_batch]
            try:
                self._http.retrying(partial(self._put, change.list_id, chunk, failed, deadline), deadline)
            except ConfigurationFailure:
                raise
            except NotFound as missing:
                reason = f"Heymarket holds no list {change.list_id}: {missing.reason}"
                gone = ListGone(reason, request_id=missing.request_id)
                failed.update((phone, gone) for phone, _ in items[start:])
                break
            except GatewayFailure as failure:
                failed.update((phone, failure) for phone, _ in chunk if phone not in failed)
        return failed

    def _put(
        self, list_id: int, items: list[tuple[str, bool]], failed: dict[str, GatewayFailure], deadline: Deadline
    ) -> None:
        """One `PUT /v2/lists/{id}`; a refusal (400, 413) is split in halves until the refused phone is alone."""
        items = [(phone, adding) for phone, adding in items if phone not in failed]
        if not items:
            return
        body: dict[str, list[str]] = {}
        adds = [phone for phone, adding in items if adding]
        removes = [phone for phone, adding in items if not adding]
        if adds:
            body["add_phones"] = adds
        if removes:
            body["remove_phones"] = removes
        try:
            self._read("PUT", f"/v2/lists/{list_id}", body, deadline, read_list_update, resource=True)
        except Refused as refused:
            if len(items) == 1:
                failed[items[0][0]] = PermanentFailure(
                    f"Heymarket refused to change list {list_id} for the phone: {refused.reason}",
                    request_id=refused.request_id,
                )
                return
            middle = len(items) // 2
            self._put(list_id, items[:middle], failed, deadline)
            self._put(list_id, items[middle:], failed, deadline)

    def opted_out(self, phones: Sequence[str], deadline: Deadline) -> dict[str, bool | GatewayFailure]:
        lookup = self._gateway.search(phones, deadline)
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
        return self._gateway.request(method, path, body, deadline, reader, resource=resource)[0]


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
