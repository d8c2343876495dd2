"""Tags and lists of the sandbox's Heymarket account (HEYMARKET_API.md, "Tags and lists").

Not documented, so chosen here: two tags may share a name; deleting a tag takes it off every contact; a list's
members are contacts (by integer id), kept in the order they were added, and a deleted contact leaves every list.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from heymarket_sandbox.protocol import TEAM_ID, Clock, JsonObject, parse_time

FIRST_TAG_ID: Final = 55
DEFAULT_TAG_COLOR: Final = "#808080"
FIRST_LIST_ID: Final = 42
TAGS_PER_PAGE: Final = 30


@dataclass
class Tag:
    id: int
    uuid: str
    tag: str
    color: str
    created: str
    updated: str
    rev: int = 1

    def render(self) -> JsonObject:
        """The tag as POST /v1/tags and GET /v1/tag/{id} answer it."""
        return {
            "id": self.id,
            "tag": self.tag,
            "color": self.color,
            "team_id": TEAM_ID,
            "created": self.created,
            "updated": self.updated,
            "rev": self.rev,
        }


class TagBook:
    """Tags by integer id; the sandbox holds its lock around every call."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[int, Tag] = {}
        self._next_id = FIRST_TAG_ID

    def __contains__(self, tag_id: object) -> bool:
        return tag_id in self._by_id

    def __iter__(self) -> Iterator[Tag]:
        """Every tag, oldest first."""
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def clear(self) -> None:
        self._by_id.clear()
        self._next_id = FIRST_TAG_ID

    def create(self, name: str, color: str) -> Tag:
        now = self._clock.now()
        tag = Tag(self._next_id, str(uuid.uuid4()), name, color, now, now)
        self._next_id += 1
        self._by_id[tag.id] = tag
        return tag

    def seed(self, tags: tuple[tuple[int, str], ...]) -> None:
        """Make sure the account holds these (id, name) tags (SandboxConfig.account_tags); new ids stay above them."""
        for tag_id, name in tags:
            if tag_id not in self._by_id:
                now = self._clock.now()
                self._by_id[tag_id] = Tag(tag_id, str(uuid.uuid4()), name, DEFAULT_TAG_COLOR, now, now)
            self._next_id = max(self._next_id, tag_id + 1)

    def get(self, tag_id: int) -> Tag | None:
        return self._by_id.get(tag_id)

    def delete(self, tag_id: int) -> bool:
        return self._by_id.pop(tag_id, None) is not None

    def page(self, before: datetime | None) -> list[Tag]:
        """The 30 most recently updated tags, or the 30 updated just before `before` (the next page)."""
        newest_first = sorted(self._by_id.values(), key=lambda tag: parse_time(tag.updated, "updated"), reverse=True)
        if before is not None:
            newest_first = [tag for tag in newest_first if parse_time(tag.updated, "updated") < before]
        return newest_first[:TAGS_PER_PAGE]


@dataclass
class ContactList:
    id: int
    uuid: str
    local_id: str
    title: str
    type: str
    created: str
    updated: str
    members: list[int] = field(default_factory=list)  # contact ids, in the order they were added
    rev: int = 1

    def add(self, contact_ids: list[int]) -> None:
        for contact_id in contact_ids:
            if contact_id not in self.members:
                self.members.append(contact_id)

    def remove(self, contact_ids: list[int]) -> None:
        gone = set(contact_ids)
        self.members = [member for member in self.members if member not in gone]


class ListBook:
    """Lists by integer id; the sandbox holds its lock around every call."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[int, ContactList] = {}
        self._next_id = FIRST_LIST_ID

    def __iter__(self) -> Iterator[ContactList]:
        """Every list, oldest first."""
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def clear(self) -> None:
        self._by_id.clear()
        self._next_id = FIRST_LIST_ID

    def create(self, local_id: str, title: str, list_type: str, members: list[int]) -> ContactList:
        now = self._clock.now()
        contact_list = ContactList(self._next_id, str(uuid.uuid4()), local_id, title, list_type, now, now)
        contact_list.add(members)
        self._next_id += 1
        self._by_id[contact_list.id] = contact_list
        return contact_list

    def get(self, list_id: int) -> ContactList | None:
        return self._by_id.get(list_id)

    def with_local_id(self, local_id: str) -> ContactList | None:
        """The oldest list created with this local_id."""
        return next((item for item in self._by_id.values() if item.local_id == local_id), None)

    def touch(self, contact_list: ContactList) -> None:
        """Record a change: a new revision."""
        contact_list.rev += 1
        contact_list.updated = self._clock.now()

    def delete(self, list_id: int) -> bool:
        return self._by_id.pop(list_id, None) is not None

    def remove_contact(self, contact_id: int) -> None:
        """A deleted contact leaves every list (no new revision: the list did not change by a list write)."""
        for contact_list in self._by_id.values():
            if contact_id in contact_list.members:
                contact_list.members.remove(contact_id)
