"""The contacts of the sandbox's Heymarket account: writes validated as Heymarket documents them, contacts stored
with an integer id and a UUID, and the Contact object exactly as the reference shows it (HEYMARKET_API.md,
"Contacts: the documented contract, exactly").

Not documented, so chosen here (or made a SandboxConfig setting by the callers):
- a Contact object holds every documented read field; a text field never set reads "" (its JSON type never
  changes), `assigned_user_id` 0 means unassigned, `avatar` appears once set, and `tags` reads as written,
  `[{"tag_id": n}]`;
- `custom` values keyed by anything but a field id (digits) are dropped without an error, as Heymarket is
  reported to do with values keyed by a field title;
- an update may move a contact to another phone only if no other contact holds it, unless duplicates are allowed.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from heymarket_sandbox.config import SandboxConfig
from heymarket_sandbox.protocol import CREATOR_ID, TEAM_ID, Clock, JsonObject

MAX_TAGS: Final = 5
FIRST_CONTACT_ID: Final = 98765
PHONE_PATTERN: Final = re.compile(r"[1-9]\d{7,14}")  # E.164 digits without the leading +

_TEXT_FIELDS: Final = ("first", "last", "display_name", "email", "avatar")
# What each clearable field holds when nothing set it (SandboxConfig.update_omitted = "clear" resets to these).
_EMPTY: Final[dict[str, Any]] = {
    "first": None,
    "last": None,
    "display_name": None,
    "email": None,
    "avatar": None,
    "custom": {},
    "tags": [],
    "is_opted_out": False,
    "assigned_user_id": 0,
    "email_suppressions": [],
}
V2_WRITE_FIELDS: Final = frozenset(
    {
        "phone",
        "first",
        "last",
        "display_name",
        "email",
        "avatar",
        "custom",
        "assignee_id",
        "tags",
        "is_opted_out",
        "email_suppressions",
        "contact_channels",
    }
)
V1_BATCH_FIELDS: Final = frozenset({"phone", "first", "last", "display_name", "email", "is_opted_out"})


class ContactRejected(Exception):
    """One contact of a write cannot be stored. str() is human text that starts with the field at fault;
    Heymarket documents no error texts, so clients must not read meaning into it."""


@dataclass
class StoredContact:
    id: int
    uuid: str
    phone: str | None
    created: str
    updated: str
    first: str | None = None
    last: str | None = None
    display_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    tags: list[int] = field(default_factory=list)
    is_opted_out: bool = False
    assigned_user_id: int = 0
    email_suppressions: list[int] = field(default_factory=list)
    rev: int = 1
    op: str = "create"


@dataclass(frozen=True)
class ContactWrite:
    """One change the sandbox stored, as write listeners (`HeymarketSandbox.add_write_listener`) receive it."""

    op: str  # "create", "update" or "delete"
    sent: Any  # what the client sent: the contact object of a write, the id or UUID of a delete
    contact: JsonObject  # the contact after the write (as it was, for a delete), with both "id" and "uuid"


WriteListener = Callable[[ContactWrite], None]


@dataclass(frozen=True)
class ParsedWrite:
    """A contact write as sent, validated: its phone (if it names one) and the stored fields it sets."""

    phone: str | None
    fields: JsonObject

    @property
    def email(self) -> str | None:
        email = self.fields.get("email")
        return email if isinstance(email, str) and email else None


def default_display_name(first: str | None, last: str | None) -> str | None:
    return " ".join(part for part in (first, last) if part) or None


def parse_write(sent: object, *, known_tags: Container[int], allowed: frozenset[str] = V2_WRITE_FIELDS) -> ParsedWrite:
    """Validate one contact as sent (fields outside `allowed` are ignored); raises ContactRejected."""
    if not isinstance(sent, dict):
        raise ContactRejected("contact: must be an object")
    given = {name: value for name, value in sent.items() if name in allowed}
    fields: JsonObject = {}
    for name in _TEXT_FIELDS:
        if name in given:
            if not isinstance(given[name], str):
                raise ContactRejected(f"{name}: must be a string")
            fields[name] = given[name]
    if "custom" in given:
        fields["custom"] = _custom(given["custom"])
    if "tags" in given:
        fields["tags"] = _tags(given["tags"], known_tags)
    fields.update(_account_fields(given))
    channels = _channels(given.get("contact_channels", []))
    if "email" not in fields and "email" in channels:
        fields["email"] = channels["email"]
    phone = given["phone"] if "phone" in given else channels.get("phone")
    if phone is not None and (not isinstance(phone, str) or not PHONE_PATTERN.fullmatch(phone)):
        raise ContactRejected("phone: must be E.164 digits without a leading +, such as 15105551234")
    return ParsedWrite(phone, fields)


def _account_fields(given: Mapping[str, Any]) -> JsonObject:
    """is_opted_out, the assignee (as assigned_user_id: -1 unassigns) and email_suppressions, as sent and checked."""
    fields: JsonObject = {}
    if "is_opted_out" in given:
        if not isinstance(given["is_opted_out"], bool):
            raise ContactRejected("is_opted_out: must be true or false")
        fields["is_opted_out"] = given["is_opted_out"]
    if "assignee_id" in given:
        assignee_id = given["assignee_id"]
        if not _is_integer(assignee_id) or assignee_id < -1:
            raise ContactRejected("assignee_id: must be a user id, or -1 to unassign")
        fields["assigned_user_id"] = 0 if assignee_id == -1 else assignee_id
    if "email_suppressions" in given:
        suppressions = given["email_suppressions"]
        if not isinstance(suppressions, list) or not all(_is_integer(item) for item in suppressions):
            raise ContactRejected("email_suppressions: must be an array of integers")
        fields["email_suppressions"] = list(suppressions)
    return fields


def _opt_in_over_stop(contact: StoredContact, write: ParsedWrite, config: SandboxConfig) -> ParsedWrite:
    """An opt-in written over a contact that opted out, as SandboxConfig.opt_in_over_stop says. Not documented
    by Heymarket. Raises ContactRejected when the sandbox refuses it."""
    if not (contact.is_opted_out and write.fields.get("is_opted_out") is False):
        return write
    if config.opt_in_over_stop == "refuse":
        raise ContactRejected("is_opted_out: the contact opted out; only the contact can opt back in")
    if config.opt_in_over_stop == "ignore":
        return ParsedWrite(write.phone, {**write.fields, "is_opted_out": True})
    return write


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _custom(custom: object) -> dict[str, Any]:
    if not isinstance(custom, dict) or not all(
        isinstance(value, str | int | float | bool) for value in custom.values()
    ):
        raise ContactRejected("custom: must be an object of text, number or boolean values keyed by field id")
    return {key: value for key, value in custom.items() if key.isdigit()}


def _tags(tags: object, known_tags: Container[int]) -> list[int]:
    if not isinstance(tags, list) or not all(isinstance(tag, dict) and _is_integer(tag.get("tag_id")) for tag in tags):
        raise ContactRejected('tags: must be an array of {"tag_id": <integer>}')
    if len(tags) > MAX_TAGS:
        raise ContactRejected(f"tags: a contact can hold at most {MAX_TAGS} tags")
    tag_ids = list(dict.fromkeys(tag["tag_id"] for tag in tags))
    for tag_id in tag_ids:
        if tag_id not in known_tags:
            raise ContactRejected(f"tags: there is no tag {tag_id}")
    return tag_ids


def _channels(channels: object) -> dict[str, str]:
    """The first phone and the first email of `contact_channels`."""
    if not isinstance(channels, list) or not all(
        isinstance(channel, dict) and isinstance(channel.get("channel_id"), str) for channel in channels
    ):
        raise ContactRejected('contact_channels: must be an array of {"channel_type", "channel_id"}')
    found: dict[str, str] = {}
    for channel in channels:
        channel_type = channel.get("channel_type")
        if isinstance(channel_type, str):
            found.setdefault(channel_type, channel["channel_id"])
    return found


def render(contact: StoredContact, *, with_uuid: bool) -> JsonObject:
    """The Contact object of Heymarket's reference; `uuid` next to `id` when `with_uuid`."""
    rendered: JsonObject = {"id": contact.id}
    if with_uuid:
        rendered["uuid"] = contact.uuid
    rendered.update(
        {
            "display_name": contact.display_name or "",
            "first": contact.first or "",
            "last": contact.last or "",
            "email": contact.email or "",
            "phone": contact.phone or "",
            "custom": dict(contact.custom),
            "team_id": TEAM_ID,
            "creator_id": CREATOR_ID,
            "shared": True,
            "created": contact.created,
            "updated": contact.updated,
            "rev": contact.rev,
            "op": contact.op,
            "assigned_user_id": contact.assigned_user_id,
            "tags": [{"tag_id": tag_id} for tag_id in contact.tags],
            "is_opted_out": contact.is_opted_out,
        }
    )
    if contact.avatar:
        rendered["avatar"] = contact.avatar
    return rendered


class ContactBook:
    """Contacts by integer id, with UUID, phone and email lookups. Not thread-safe: the sandbox holds its lock
    around every call. Every stored change is passed to `listeners`, in the order it was stored."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[int, StoredContact] = {}
        self._id_by_uuid: dict[str, int] = {}
        self._ids_by_phone: dict[str, list[int]] = {}
        self._next_id = FIRST_CONTACT_ID
        self.written = 0  # creates and updates stored since the last clear()
        self.listeners: list[WriteListener] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[StoredContact]:
        """Every contact, oldest first."""
        return iter(list(self._by_id.values()))

    def clear(self) -> None:
        """Forget every contact (ids start again); listeners stay."""
        self._by_id.clear()
        self._id_by_uuid.clear()
        self._ids_by_phone.clear()
        self._next_id = FIRST_CONTACT_ID
        self.written = 0

    def by_id(self, contact_id: int) -> StoredContact | None:
        return self._by_id.get(contact_id)

    def by_uuid(self, contact_uuid: object) -> StoredContact | None:
        contact_id = self._id_by_uuid.get(contact_uuid) if isinstance(contact_uuid, str) else None
        return None if contact_id is None else self._by_id[contact_id]

    def holding_phone(self, phone: str) -> list[StoredContact]:
        """Every contact with this phone, oldest first (more than one only if duplicates were created)."""
        return [self._by_id[contact_id] for contact_id in self._ids_by_phone.get(phone, [])]

    def holding_email(self, email: str) -> list[StoredContact]:
        """Every contact with this email (any case), oldest first."""
        wanted = email.lower()
        return [contact for contact in self._by_id.values() if (contact.email or "").lower() == wanted]

    def create(self, write: ParsedWrite, sent: object) -> StoredContact:
        """Store a new contact; it needs a phone or an email. Raises ContactRejected."""
        if write.phone is None and write.email is None:
            raise ContactRejected("contact_channels: a contact needs a phone or an email")
        now = self._clock.now()
        contact = StoredContact(id=self._next_id, uuid=str(uuid.uuid4()), phone=write.phone, created=now, updated=now)
        self._next_id += 1
        for name, value in write.fields.items():
            setattr(contact, name, copy.deepcopy(value))
        if "display_name" not in write.fields:
            contact.display_name = default_display_name(contact.first, contact.last)
        self._by_id[contact.id] = contact
        self._id_by_uuid[contact.uuid] = contact.id
        if contact.phone is not None:
            self._ids_by_phone.setdefault(contact.phone, []).append(contact.id)
        self.written += 1
        self._emit("create", sent, contact)
        return contact

    def create_new(self, write: ParsedWrite, sent: object, config: SandboxConfig) -> StoredContact:
        """A create, with what Heymarket may do when the phone is already held (SandboxConfig.duplicate_create):
        refuse it (ContactRejected), update the oldest contact holding it, or create a second one."""
        holders = self.holding_phone(write.phone) if write.phone is not None else []
        if not holders or config.duplicate_create == "duplicate":
            return self.create(write, sent)
        if config.duplicate_create == "update":
            return self.update(holders[0], write, sent, config)
        raise ContactRejected("phone: a contact with this phone number already exists")

    def update(
        self,
        contact: StoredContact,
        write: ParsedWrite,
        sent: object,
        config: SandboxConfig,
        *,
        custom: str | None = None,
    ) -> StoredContact:
        """Apply a write to a stored contact as SandboxConfig.update_omitted and update_custom say (`custom`
        overrides the latter: v1 documents it). A new phone must be free unless duplicates are allowed.
        Raises ContactRejected."""
        write = self._move_phone(contact, write, config)
        write = _opt_in_over_stop(contact, write, config)
        derived_name = contact.display_name == default_display_name(contact.first, contact.last)
        if config.update_omitted == "clear":
            for name, empty in _EMPTY.items():
                if name not in write.fields:
                    setattr(contact, name, copy.deepcopy(empty))
            derived_name = True
        for name, value in write.fields.items():
            if name == "custom" and (custom or config.update_custom) == "merge":
                contact.custom.update(value)
            else:
                setattr(contact, name, copy.deepcopy(value))
        if "display_name" not in write.fields and derived_name:
            contact.display_name = default_display_name(contact.first, contact.last)
        contact.updated = self._clock.now()
        contact.rev += 1
        contact.op = "update"
        self.written += 1
        self._emit("update", sent, contact)
        return contact

    def _move_phone(self, contact: StoredContact, write: ParsedWrite, config: SandboxConfig) -> ParsedWrite:
        """Give the contact the write's new phone, as SandboxConfig.update_phone_held and duplicate_create say; the
        write without its phone when a held phone is kept. Raises ContactRejected when another contact holds it."""
        held = write.phone is not None and write.phone != contact.phone and bool(self._ids_by_phone.get(write.phone))
        if held and config.update_phone_held == "keep" and config.duplicate_create != "duplicate":
            write = ParsedWrite(None, write.fields)  # Not documented (SandboxConfig.update_phone_held)
        if write.phone is not None and write.phone != contact.phone:
            shared = config.duplicate_create == "duplicate" or config.update_phone_held == "share"
            if self._ids_by_phone.get(write.phone) and not shared:
                raise ContactRejected("phone: another contact holds this phone number")
            self._unindex_phone(contact)
            contact.phone = write.phone
            self._ids_by_phone.setdefault(write.phone, []).append(contact.id)
            self._ids_by_phone[write.phone].sort()
        return write

    def change_phone_in_app(self, contact: StoredContact, phone: str) -> StoredContact:
        """Give a contact another phone as a person does in Heymarket's app: no API request, so no write listener
        hears it and no client is told (the bridge learns it only from later answers). The phone must be free.
        Raises ContactRejected."""
        if not PHONE_PATTERN.fullmatch(phone):
            raise ContactRejected("phone: must be E.164 digits without a leading +, such as 15105551234")
        if self._ids_by_phone.get(phone):
            raise ContactRejected("phone: another contact holds this phone number")
        self._unindex_phone(contact)
        contact.phone = phone
        self._ids_by_phone.setdefault(phone, []).append(contact.id)
        contact.updated = self._clock.now()
        contact.rev += 1
        contact.op = "update"
        return contact

    def text(self, phone: str, opted_out: bool) -> int:
        """A STOP (`opted_out`) or START texted from `phone` to the account, as Heymarket's app applies it to the
        contacts holding the phone: their opt-out changes, with no API request. Write listeners see op "text" (sent:
        `{"is_opted_out": ...}`). Returns how many contacts it changed."""
        holders = self.holding_phone(phone)
        for contact in holders:
            contact.is_opted_out = opted_out
            contact.updated = self._clock.now()
            contact.rev += 1
            self._emit("text", {"is_opted_out": opted_out}, contact)
        return len(holders)

    def delete(self, contact: StoredContact, sent: object) -> None:
        if self._by_id.pop(contact.id, None) is None:
            return
        del self._id_by_uuid[contact.uuid]
        self._unindex_phone(contact)
        self._emit("delete", sent, contact)

    def remove_tag(self, tag_id: int) -> None:
        """Take a deleted tag off every contact (no new revision: the contact itself did not change)."""
        for contact in self._by_id.values():
            if tag_id in contact.tags:
                contact.tags.remove(tag_id)

    def _unindex_phone(self, contact: StoredContact) -> None:
        if contact.phone is None:
            return
        holders = self._ids_by_phone.get(contact.phone, [])
        if contact.id in holders:
            holders.remove(contact.id)
        if not holders:
            self._ids_by_phone.pop(contact.phone, None)

    def _emit(self, op: str, sent: object, contact: StoredContact) -> None:
        if self.listeners:
            change = ContactWrite(op, copy.deepcopy(sent), render(contact, with_uuid=True))
            for listener in list(self.listeners):
                listener(change)
