"""Heymarket's API endpoints over one account's contacts, tags and lists, answering in the documented shapes
(HEYMARKET_API.md and heymarket-examples/). Where the reference is silent the answer follows SandboxConfig.

Every endpoint is a method `(request, config) -> Reply`, named in `routes` as the stats name it; the sandbox
calls it holding its lock, after authentication and the rate limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from heymarket_sandbox.config import API_ENDPOINTS, SandboxConfig
from heymarket_sandbox.contacts import (
    PHONE_PATTERN,
    V1_BATCH_FIELDS,
    V2_WRITE_FIELDS,
    ContactBook,
    ContactRejected,
    ParsedWrite,
    StoredContact,
    parse_write,
    render,
)
from heymarket_sandbox.protocol import (
    ApiError,
    ApiRequest,
    Clock,
    JsonObject,
    Reply,
    bad_data,
    not_found,
    ok,
    parse_time,
)
from heymarket_sandbox.tags_lists import DEFAULT_TAG_COLOR, ContactList, ListBook, TagBook

Endpoint = Callable[[ApiRequest, SandboxConfig], Reply]

INJECTED_CONTACT_ERROR: Final = "injected contact error"
_V1_CONTACT_FIELDS: Final = V2_WRITE_FIELDS - {"contact_channels"}


@dataclass(frozen=True)
class Route:
    name: str  # "GET /v2/contact/{id}": the endpoint as stats and settings name it
    endpoint: Endpoint | None  # None: the path exists, not with this method
    path_param: str | None
    allowed: tuple[str, ...]  # the methods the path answers


def _too_large(count: int, what: str, config: SandboxConfig) -> ApiError:
    return ApiError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "too_large",
        f"{what}: {count} sent, at most {config.max_bulk_contacts} per request",
    )


def _unknown_contact(config: SandboxConfig, what: str) -> ApiError | None:
    """The error a delete of an unknown contact answers (SandboxConfig.delete_unknown); None: answer "ok"."""
    if config.delete_unknown == "bad_data":
        return bad_data(f"{what}: no contact has this id")
    if config.delete_unknown == "not_found":
        return not_found(f"{what}: no contact has this id")
    return None


def _integer_id(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _strings(body: JsonObject, name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_data(f"{name}: must be an array of strings")
    return list(value)


def _phones(body: JsonObject, name: str) -> list[str]:
    phones = _strings(body, name)
    for phone in phones:
        if not PHONE_PATTERN.fullmatch(phone):
            raise bad_data(f"{name}: {phone!r} is not E.164 digits without a leading +")
    return phones


def _integers(body: JsonObject, name: str) -> list[int]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise bad_data(f"{name}: must be an array of integer contact ids")
    return list(value)


def _channel_filters(body: object) -> list[tuple[str | None, list[str]]]:
    """The (channel_type, channel_ids) filters of a search or delete body, or a 400 bad_data answer."""
    filters = body.get("contact_channels") if isinstance(body, dict) else None
    if not isinstance(filters, list) or not filters:
        raise bad_data("contact_channels: must be a non-empty array")
    parsed: list[tuple[str | None, list[str]]] = []
    for index, channel_filter in enumerate(filters):
        where = f"contact_channels[{index}]"
        if not isinstance(channel_filter, dict):
            raise bad_data(f"{where}: must be an object")
        channel_type = channel_filter.get("channel_type")
        if channel_type is not None and not isinstance(channel_type, str):
            raise bad_data(f"{where}.channel_type: must be a string")
        channel_ids = channel_filter.get("channel_ids")
        if not isinstance(channel_ids, list) or not all(isinstance(item, str) for item in channel_ids):
            raise bad_data(f"{where}.channel_ids: must be an array of strings")
        parsed.append((channel_type or None, channel_ids))
    return parsed


@dataclass(frozen=True)
class _Members:
    """The members a list write names, validated (nothing created yet)."""

    contacts: list[int]
    phones: list[str]
    emails: list[str]

    def __len__(self) -> int:
        return len(self.contacts) + len(self.phones) + len(self.emails)


class HeymarketApi:
    """One Heymarket account (contacts, tags, lists) and the endpoints that read and write it."""

    def __init__(self, inject_contact_error: Callable[[SandboxConfig], bool]) -> None:
        self.clock = Clock()
        self.contacts = ContactBook(self.clock)
        self.tags = TagBook(self.clock)
        self.lists = ListBook(self.clock)
        self._inject_contact_error = inject_contact_error
        self.routes: dict[str, Endpoint] = {
            "POST /v2/contacts": self.post_contacts,
            "DELETE /v2/contacts": self.delete_contacts,
            "POST /v2/contacts/search": self.search_contacts,
            "POST /v2/contact": self.post_contact,
            "GET /v2/contact/{id}": self.get_contact,
            "PUT /v2/contact/{id}": self.put_contact,
            "DELETE /v2/contact/{id}": self.delete_contact,
            "POST /v1/contact": self.post_v1_contact,
            "POST /v1/contact/get": self.post_v1_contact_get,
            "GET /v1/contact/{id}": self.get_v1_contact,
            "PUT /v1/contact/{id}": self.put_v1_contact,
            "DELETE /v1/contact/{id}": self.delete_v1_contact,
            "POST /v1/batch/contacts": self.post_v1_batch,
            "POST /v1/contact-fields": self.post_contact_fields,
            "GET /v1/inboxes": self.get_inboxes,
            "POST /v1/tags": self.post_tags,
            "POST /v1/tag": self.post_tag,
            "GET /v1/tag/{id}": self.get_tag,
            "DELETE /v1/tag/{id}": self.delete_tag,
            "POST /v2/lists": self.post_list,
            "PUT /v2/lists/{id}": self.put_list,
            "DELETE /v2/lists/{id}": self.delete_list,
        }
        if tuple(self.routes) != API_ENDPOINTS:
            raise RuntimeError("the sandbox's routes and config.API_ENDPOINTS disagree")
        self._templates = [(name.split(" ", 1)[0], name.split(" ", 1)[1].split("/")) for name in self.routes]

    def clear(self) -> None:
        """Forget every contact, tag and list."""
        self.contacts.clear()
        self.tags.clear()
        self.lists.clear()

    def route(self, method: str, path: str) -> Route:
        """The endpoint answering `method path`; a literal path wins over a template ("/v1/contact/get")."""
        segments = path.split("/")
        matches: list[tuple[str, str, str | None]] = []  # (method, template, path parameter)
        for template_method, template in self._templates:
            if len(template) != len(segments):
                continue
            param: str | None = None
            for expected, actual in zip(template, segments, strict=True):
                if expected == "{id}" and actual:
                    param = actual
                elif expected != actual:
                    break
            else:
                matches.append((template_method, "/".join(template), param))
        if not matches:
            return Route(f"{method} <unknown>", None, None, ())
        allowed = tuple(sorted({match[0] for match in matches}))
        with_method = sorted((match for match in matches if match[0] == method), key=lambda match: match[2] is not None)
        if not with_method:
            return Route(f"{method} {matches[0][1]}", None, None, allowed)
        _, matched, param = with_method[0]
        name = f"{method} {matched}"
        return Route(name, self.routes[name], param, allowed)

    # v2 contacts ----------------------------------------------------------------------------------------------

    def post_contacts(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Bulk create or update: `{"contacts": [Contact...], "failed_contacts": [{"contact", "error"}]}`."""
        items = self._bulk(request.json_object().get("contacts"), "contacts", config)
        written: list[JsonObject] = []
        failed: list[JsonObject] = []
        for sent in items:
            try:
                if self._inject_contact_error(config):
                    raise ContactRejected(INJECTED_CONTACT_ERROR)
                write = parse_write(sent, known_tags=self.tags)
                if isinstance(sent, dict) and "contact_id" in sent:
                    contact = self.contacts.by_uuid(sent["contact_id"])
                    if contact is None:
                        raise ContactRejected("contact_id: no contact has this id")
                    if config.update_phone_held == "holder" and write.phone is not None:
                        # Not documented (SandboxConfig.update_phone_held): the write lands on the phone's holder.
                        contact = next(iter(self.contacts.holding_phone(write.phone)), contact)
                    stored = self.contacts.update(contact, write, sent, config)
                else:
                    stored = self.contacts.create_new(write, sent, config)
            except ContactRejected as rejected:
                failed.append({"contact": sent, "error": str(rejected)})
            else:
                written.append(self._render(stored, config))
        if not written and failed and "no_contacts_when_all_failed" in config.answer_deviations:
            return ok({"failed_contacts": failed})
        return ok({"contacts": written, "failed_contacts": failed})

    def search_contacts(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """A bare array of the Contacts holding any phone or email searched (every holder of a phone), oldest first."""
        found: dict[int, StoredContact] = {}
        searched = 0
        for index, (channel_type, channel_ids) in enumerate(_channel_filters(request.json())):
            searched += len(channel_ids)
            for channel_id in channel_ids:
                kind = channel_type or ("email" if "@" in channel_id else "phone")
                if kind == "phone":
                    holders = self.contacts.holding_phone(channel_id)
                elif kind == "email":
                    holders = self.contacts.holding_email(channel_id)
                else:
                    raise bad_data(f"contact_channels[{index}].channel_type: must be phone or email")
                found.update((contact.id, contact) for contact in holders)
        if searched > config.max_bulk_contacts:
            raise _too_large(searched, "contact_channels", config)
        return ok([self._render(found[contact_id], config) for contact_id in sorted(found)])

    def delete_contacts(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Delete by UUID: `"ok"`. Unknown UUIDs: SandboxConfig.delete_unknown."""
        uuids: list[str] = []
        for index, (channel_type, channel_ids) in enumerate(_channel_filters(request.json())):
            if channel_type != "id":
                raise bad_data(f'contact_channels[{index}].channel_type: must be "id" (deletes are by contact UUID)')
            uuids.extend(channel_ids)
        if len(uuids) > config.max_bulk_contacts:
            raise _too_large(len(uuids), "contact_channels", config)
        known = {contact_uuid: self.contacts.by_uuid(contact_uuid) for contact_uuid in uuids}
        if None in known.values():
            error = _unknown_contact(config, "contact_channels.channel_ids")
            if error is not None:
                raise error
        for contact_uuid, contact in known.items():
            if contact is not None:
                self._delete(contact, contact_uuid)
        return ok("ok")

    def post_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Create one contact (at least one contact channel required); answers the Contact."""
        sent = request.json_object()
        channels = sent.get("contact_channels")
        if not isinstance(channels, list) or not channels:
            raise bad_data("contact_channels: at least one contact channel is required")
        write = self._parse(sent, V2_WRITE_FIELDS)
        return ok(self._render(self._rejected_as_400(lambda: self.contacts.create_new(write, sent, config)), config))

    def get_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        return ok(self._render(self._by_uuid(request.path_param), config))

    def put_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Update one contact by UUID; answers the Contact."""
        contact = self._by_uuid(request.path_param)
        sent = request.json_object()
        write = self._parse(sent, V2_WRITE_FIELDS)
        return ok(
            self._render(self._rejected_as_400(lambda: self.contacts.update(contact, write, sent, config)), config)
        )

    def delete_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        contact = self.contacts.by_uuid(request.path_param)
        if contact is None:
            error = _unknown_contact(config, "contactID")
            if error is not None:
                raise error
        else:
            self._delete(contact, request.path_param)
        return ok("ok")

    # v1 contacts ----------------------------------------------------------------------------------------------

    def post_v1_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Create one contact (phone required): `{"id", "rev", "uuid"}`."""
        sent = request.json_object()
        if "phone" not in sent:
            raise bad_data("phone: required")
        write = self._parse(sent, _V1_CONTACT_FIELDS)
        return ok(self._v1_answer(self._rejected_as_400(lambda: self.contacts.create_new(write, sent, config))))

    def put_v1_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Update by integer id (phone required; overwrite=true replaces the custom map, false merges it):
        `{"id", "rev", "uuid"}`."""
        contact = self._by_id(request.path_param)
        overwrite = request.flag("overwrite")
        sent = request.json_object()
        if "phone" not in sent:
            raise bad_data("phone: required")
        write = self._parse(sent, _V1_CONTACT_FIELDS)
        custom = "replace" if overwrite else "merge"
        return ok(
            self._v1_answer(
                self._rejected_as_400(lambda: self.contacts.update(contact, write, sent, config, custom=custom))
            )
        )

    def post_v1_contact_get(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """One Contact by `{"phone"}` or `{"id"}` (phone wins; the oldest holder of a phone)."""
        body = request.json_object()
        if body.get("phone") is not None:
            phone = body["phone"]
            if not isinstance(phone, str):
                raise bad_data("phone: must be a string")
            holders = self.contacts.holding_phone(phone)
            if not holders:
                raise not_found("phone: no contact has this phone number")
            return ok(self._render(holders[0], config))
        if body.get("id") is not None:
            contact_id = body["id"]
            if not isinstance(contact_id, int) or isinstance(contact_id, bool):
                raise bad_data("id: must be an integer")
            contact = self.contacts.by_id(contact_id)
            if contact is None:
                raise not_found("id: no contact has this id")
            return ok(self._render(contact, config))
        raise bad_data("phone: phone or id is required")

    def get_v1_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        return ok(self._render(self._by_id(request.path_param), config))

    def delete_v1_contact(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        contact_id = _integer_id(request.path_param)
        contact = None if contact_id is None else self.contacts.by_id(contact_id)
        if contact is None:
            error = _unknown_contact(config, "id")
            if error is not None:
                raise error
        else:
            self._delete(contact, contact_id)
        return ok("ok")

    def post_v1_batch(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Legacy bulk create: existing phones skipped unless overwrite=true. `"ok"`, or the failed contacts as sent."""
        overwrite = request.flag("overwrite")
        items = self._bulk(request.json(), "body", config)
        failed: list[Any] = []
        for sent in items:
            try:
                if self._inject_contact_error(config):
                    raise ContactRejected(INJECTED_CONTACT_ERROR)
                write = parse_write(sent, known_tags=self.tags, allowed=V1_BATCH_FIELDS)
                if write.phone is None:
                    raise ContactRejected("phone: required")
                holders = self.contacts.holding_phone(write.phone)
                if not holders:
                    self.contacts.create(write, sent)
                elif overwrite:
                    self.contacts.update(holders[0], write, sent, config)
            except ContactRejected:
                failed.append(sent)
        return ok(failed or "ok")

    def post_contact_fields(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        return ok([{"id": field_id, "title": title} for field_id, title in config.custom_fields])

    def get_inboxes(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        return ok([{"id": 1, "name": "Sandbox inbox"}])

    # Tags -----------------------------------------------------------------------------------------------------

    def post_tags(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Up to 30 tags, most recent first; `{"date"}` (the `updated` of the last one seen) for the next page."""
        body = request.json_object()
        before = parse_time(body["date"], "date") if "date" in body else None
        return ok([tag.render() for tag in self.tags.page(before)])

    def post_tag(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        body = request.json_object()
        name, color = body.get("tag"), body.get("color", DEFAULT_TAG_COLOR)
        if not isinstance(name, str) or not name.strip():
            raise bad_data("tag: required, a non-empty string")
        if not isinstance(color, str):
            raise bad_data("color: must be a string such as #FFD700")
        tag = self.tags.create(name, color)
        return ok({"id": tag.id, "rev": tag.rev, "uuid": tag.uuid})

    def get_tag(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        tag_id = _integer_id(request.path_param)
        tag = None if tag_id is None else self.tags.get(tag_id)
        if tag is None:
            raise not_found("id: no tag has this id")
        return ok(tag.render())

    def delete_tag(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        tag_id = _integer_id(request.path_param)
        if tag_id is None or not self.tags.delete(tag_id):
            raise not_found("id: no tag has this id")
        self.contacts.remove_tag(tag_id)
        return ok("ok")

    # Lists ----------------------------------------------------------------------------------------------------

    def post_list(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Create a list of contacts (unknown phones and emails become new contacts): `{"id", "rev", "uuid"}`.
        A local_id already used: SandboxConfig.list_local_id_repeat."""
        body = request.json_object()
        local_id, title, list_type = body.get("local_id"), body.get("title"), body.get("type", "contacts")
        if not isinstance(local_id, str) or not local_id:
            raise bad_data("local_id: required, a non-empty string")
        if not isinstance(title, str):
            raise bad_data("title: required, a string")
        if list_type != "contacts":
            raise bad_data('type: must be "contacts"')
        members = self._members(body, config, "contacts", "phones", "emails")
        existing = self.lists.with_local_id(local_id)
        if existing is not None and config.list_local_id_repeat == "existing":
            return ok({"id": existing.id, "rev": existing.rev, "uuid": existing.uuid})
        if existing is not None and config.list_local_id_repeat == "refuse":
            raise bad_data("local_id: a list with this local_id exists")
        contact_list = self.lists.create(local_id, title, list_type, self._resolve(members, adding=True))
        return ok({"id": contact_list.id, "rev": contact_list.rev, "uuid": contact_list.uuid})

    def put_list(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        """Retitle a list, replace its members, then add, then remove members: `{"id", "rev"}`."""
        contact_list = self._list(request.path_param)
        body = request.json_object()
        if "title" in body and not isinstance(body["title"], str):
            raise bad_data("title: must be a string")
        replace = self._members(body, config, "contacts", "", "") if "contacts" in body else None
        additions = self._members(body, config, "add_contacts", "add_phones", "add_emails")
        removals = self._members(body, config, "remove_contacts", "remove_phones", "remove_emails")
        if "title" in body:
            contact_list.title = body["title"]
        if replace is not None:
            contact_list.members = []
            contact_list.add(self._resolve(replace, adding=True))
        contact_list.add(self._resolve(additions, adding=True))
        contact_list.remove(self._resolve(removals, adding=False))
        self.lists.touch(contact_list)
        return ok({"id": contact_list.id, "rev": contact_list.rev})

    def delete_list(self, request: ApiRequest, config: SandboxConfig) -> Reply:
        list_id = _integer_id(request.path_param)
        if list_id is None or not self.lists.delete(list_id):
            raise not_found("id: no list has this id")
        return ok("ok")

    # Helpers --------------------------------------------------------------------------------------------------

    def _render(self, contact: StoredContact, config: SandboxConfig) -> JsonObject:
        return deviated(render(contact, with_uuid=config.identifiers == "uuid"), contact, config.answer_deviations)

    @staticmethod
    def _v1_answer(contact: StoredContact) -> JsonObject:
        # Documented with the UUID whatever the identifiers setting: the one place the reference shows it.
        return {"id": contact.id, "rev": contact.rev, "uuid": contact.uuid}

    def _bulk(self, items: object, what: str, config: SandboxConfig) -> list[Any]:
        if not isinstance(items, list):
            raise bad_data(f"{what}: must be an array of contacts")
        if len(items) > config.max_bulk_contacts:
            raise _too_large(len(items), what, config)
        return items

    def _parse(self, sent: JsonObject, allowed: frozenset[str]) -> ParsedWrite:
        try:
            return parse_write(sent, known_tags=self.tags, allowed=allowed)
        except ContactRejected as rejected:
            raise bad_data(str(rejected)) from rejected

    @staticmethod
    def _rejected_as_400(write: Callable[[], StoredContact]) -> StoredContact:
        try:
            return write()
        except ContactRejected as rejected:
            raise bad_data(str(rejected)) from rejected

    def _by_uuid(self, contact_uuid: str | None) -> StoredContact:
        contact = self.contacts.by_uuid(contact_uuid)
        if contact is None:
            raise not_found("contactID: no contact has this id")
        return contact

    def _by_id(self, param: str | None) -> StoredContact:
        contact_id = _integer_id(param)
        contact = None if contact_id is None else self.contacts.by_id(contact_id)
        if contact is None:
            raise not_found("id: no contact has this id")
        return contact

    def _list(self, param: str | None) -> ContactList:
        list_id = _integer_id(param)
        contact_list = None if list_id is None else self.lists.get(list_id)
        if contact_list is None:
            raise not_found("id: no list has this id")
        return contact_list

    def _delete(self, contact: StoredContact, sent: object) -> None:
        self.contacts.delete(contact, sent)
        self.lists.remove_contact(contact.id)

    def _members(self, body: JsonObject, config: SandboxConfig, contacts: str, phones: str, emails: str) -> _Members:
        """The members named by these fields of a list write (a name "" is not read), validated."""
        members = _Members(
            _integers(body, contacts) if contacts else [],
            _phones(body, phones) if phones else [],
            _strings(body, emails) if emails else [],
        )
        for contact_id in members.contacts:
            if self.contacts.by_id(contact_id) is None:
                raise bad_data(f"{contacts}: there is no contact {contact_id}")
        if len(members) > config.max_bulk_contacts:
            raise _too_large(len(members), contacts or phones, config)
        return members

    def _resolve(self, members: _Members, *, adding: bool) -> list[int]:
        """Contact ids of the members. Adding, a phone or email names its oldest holder and an unknown one becomes
        a new contact (documented for add_phones); removing, it names every holder."""
        ids = list(members.contacts)
        named = [*(("phone", phone) for phone in members.phones), *(("email", email) for email in members.emails)]
        for channel, value in named:
            holders = self.contacts.holding_phone(value) if channel == "phone" else self.contacts.holding_email(value)
            if not adding:
                ids.extend(contact.id for contact in holders)
            elif holders:
                ids.append(holders[0].id)
            else:
                write = ParsedWrite(value, {}) if channel == "phone" else ParsedWrite(None, {"email": value})
                ids.append(self.contacts.create(write, {channel: value}).id)
        return ids


def deviated(rendered: JsonObject, contact: StoredContact, deviations: tuple[str, ...]) -> JsonObject:
    """A Contact object as it is with the `answer_deviations` set (each means one thing only)."""
    if "id_as_uuid" in deviations:
        rendered = {"id": contact.uuid, **{k: v for k, v in rendered.items() if k not in ("id", "uuid")}}
    elif "id_as_text" in deviations:
        rendered = {**rendered, "id": str(contact.id)}
    if "phone_with_plus" in deviations and rendered.get("phone"):
        rendered = {**rendered, "phone": f"+{rendered['phone']}"}
    if "extra_fields" in deviations:
        rendered = {**rendered, "channels": [{"type": "sms", "id": rendered.get("phone")}], "score": 0}
    return rendered
