"""`heymarket-bridge explain SOURCE FILE`: how one recorded delivery maps, offline, through the product's own code.

The delivery is read by the source's own `read` and validated by the ingest function's own planning
(heymarket_bridge.ingest.planning.plan_delivery), with the mappings and DefaultCountry given: what is explained
is what the ingest function would queue, so explain cannot disagree with it. Nothing is authenticated (no secret is
needed offline; a signature's age is not checked) and nothing leaves this machine. What this module adds is only the
telling: where in the payload each value was found (the payload's fields holding that value), the country the phone
was read in with the evidence the source found, the consent the source read, and the Heymarket requests the sync
function would make for each contact (heymarket_bridge.sync: tags by name and custom-field titles resolved, an
upsert by phone, lists written once the contact is stored).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from heymarket_bridge.domain.mapping import SourceMapping, Submission
    from heymarket_bridge.domain.operations import ContactOperation
    from heymarket_bridge.ingest.http import WebhookRequest
    from heymarket_bridge.settings import IngestSettings

# The most places a value is said to be found at (a value repeated all over a payload is not a finding).
MAX_PLACES: Final = 3
_NOT_SHOWN: Final = frozenset({"country_evidence", "phone_as_received"})


def default_settings() -> IngestSettings:
    """The ingest function's settings with the template's defaults (MaxBodyBytes, MaxContactsPerRequest)."""
    from heymarket_bridge.settings import IngestSettings

    return IngestSettings(queue_url="", webhook_secrets_arn="")


@dataclass
class ContactStory:
    """One submission of the delivery as the ingest function would treat it."""

    index: int
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (field, value shown, where it came from)
    country: str = ""
    evidence: list[str] = field(default_factory=list)
    consent: str = ""
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    queued: dict[str, Any] | None = None  # the contact queued for it (Contact.to_dict), unmasked: for the tests


@dataclass
class Explanation:
    source: str
    contacts: list[ContactStory]
    # A notifying sender (Meta, Acuity): how many records the notification names, which the fetch function fetches
    # (from `fetched_from`) after ingest answers 200; None for a sender that posts its contacts.
    notices: int | None = None
    fetched_from: str = ""


def request_of(source: str, body: bytes, content_type: str) -> WebhookRequest:
    """The webhook request API Gateway would hand the ingest function for `body` posted to /webhooks/SOURCE."""
    from heymarket_bridge.ingest.http import WebhookRequest

    event = {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": f"/webhooks/{source}",
        "rawQueryString": "",
        "headers": {"content-type": content_type},
        "requestContext": {"http": {"method": "POST", "path": f"/webhooks/{source}"}, "requestId": "explain"},
        "pathParameters": {"source": source},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    return WebhookRequest.from_http_api_event(event)


def explain(
    source: str,
    request: WebhookRequest,
    mappings: Mapping[str, SourceMapping],
    default_country: str = "US",
    *,
    unmasked: bool = False,
    settings: IngestSettings | None = None,
) -> Explanation:
    """Read `request` as SOURCE's webhook and plan it as the ingest function does, with its default limits
    (MaxBodyBytes, MaxContactsPerRequest: `settings`, else IngestSettings' defaults, the template's); raises the
    WebhookError the sender would get (400, 413, 415, 422) when the delivery is refused as a whole, through the
    ingest function's own checks (http.refuse_if_larger, common.too_many, intake.nothing_valid)."""
    from heymarket_bridge.ingest.http import refuse_if_larger
    from heymarket_bridge.ingest.intake import nothing_valid
    from heymarket_bridge.ingest.planning import NO_MAPPING, PlanInputs, plan_delivery
    from heymarket_bridge.ingest.service import contacts_limit
    from heymarket_bridge.ingest.sources.base import default_sources
    from heymarket_bridge.ingest.sources.common import ReadContext, SourceCredentials, too_many
    from heymarket_bridge.observability import metrics
    from heymarket_bridge_tools.doctor import quiet_layer

    limits = settings if settings is not None else default_settings()
    sender = default_sources([source])[source]
    mapping = mappings.get(source, NO_MAPPING)
    now = datetime.now(UTC)
    context = ReadContext(
        now=now,
        credentials=SourceCredentials(None, {}),
        mapping=mapping,
        default_country=default_country,
        max_contacts=contacts_limit(limits, sender),
    )
    fetched_from = str(getattr(sender, "fetched_from", ""))
    try:
        with quiet_layer():
            refuse_if_larger(request, limits.max_body_bytes)
            if fetched_from:  # as service._notified: the notification's records, fetched later (not offline)
                notices = sender.notices(request, context)  # type: ignore[attr-defined]
                too_many(len(notices), context)
                return Explanation(source, [], len(notices), fetched_from)
            delivery = sender.read(request, context)
            too_many(len(delivery.submissions), context)
            plan = plan_delivery(delivery, PlanInputs(source, "explain", now, default_country, dict(mappings)))
            refusal = nothing_valid(plan, sender.refuses_when_nothing_valid)
    finally:
        metrics.clear_metrics()
    if refusal is not None:
        raise refusal
    places = _leaves(request)
    by_phone = {operation.contact.phone: operation for operation in plan.operations}
    phones = [_phone_of(submission, default_country) for submission in delivery.submissions]
    stories = []
    for index, submission in enumerate(delivery.submissions):
        story = ContactStory(index)
        _fields(story, submission, mapping, places, unmasked)
        _rejections(story, plan.rejected)
        operation = by_phone.get(phones[index] or "")
        if operation is not None and not story.refused:
            others = [n for n, phone in enumerate(phones) if phone == phones[index] and n != index]
            if others:
                story.notes.append(
                    f"same phone as contact(s) {others}: merged into one contact, the newest event winning field "
                    "by field (heymarket_bridge.ingest.per_phone)"
                )
            _contact(story, submission, operation, default_country, unmasked)
        stories.append(story)
    return Explanation(source, stories)


def _rejections(story: ContactStory, rejected: Iterable[Any]) -> None:
    """The plan's rejections of this story's contact: a refusal, or notes when it is queued all the same (a field
    dropped, a warning)."""
    for rejection in rejected:
        if rejection.index != story.index:
            continue
        if rejection.dropped or rejection.notes:
            story.notes += [*rejection.errors, *rejection.notes]
        else:
            story.refused += rejection.errors


def _phone_of(submission: Submission, default_country: str) -> str | None:
    """The phone the contact rules read for a submission (None when refused), to find its queued operation."""
    from heymarket_bridge.domain.contact import read_contact
    from heymarket_bridge.domain.failures import InvalidContact
    from heymarket_bridge.domain.mapping import Unmappable

    if isinstance(submission, Unmappable):
        return None
    try:
        return read_contact(submission, default_country)[0].phone
    except InvalidContact:
        return None


def _fields(
    story: ContactStory, submission: Submission, mapping: SourceMapping, places: list[tuple[str, str]], unmasked: bool
) -> None:
    from dataclasses import fields

    from heymarket_bridge.domain.contact import COUNTRY_FIELDS, Contact
    from heymarket_bridge.domain.mapping import Unmappable

    # Only what the contact rules read: a generic body's other keys are carried along, and ignored.
    read = {f.name for f in fields(Contact)} | set(COUNTRY_FIELDS) | {"name"}
    values = submission.fields if isinstance(submission, Unmappable) else submission
    for name, value in values.items():
        if name in _NOT_SHOWN or name not in read or value is None:
            continue
        if name == "custom" and isinstance(value, Mapping):
            for key, item in value.items():
                story.fields.append(
                    (f"custom[{key}]", _shown("", item, unmasked), _origin("custom", key, item, mapping, places))
                )
            continue
        story.fields.append((name, _shown(name, value, unmasked), _origin(name, None, value, mapping, places)))


def _origin(name: str, key: str | None, value: Any, mapping: SourceMapping, places: list[tuple[str, str]]) -> str:
    """Where a value came from: the mapping's reference or constant, and the payload fields holding the value."""
    said = _mapping_said(name, key, mapping)
    found = _found(value, places)
    where = f"payload field {', '.join(found)}" if found else ""
    if not said:
        said = "the source's default" if where else "the source's default (not a payload field as such)"
    return f"{said}; {where}" if where else said


def _mapping_said(name: str, key: str | None, mapping: SourceMapping) -> str:
    """What the mapping says of a field ("" when it leaves it to the source's default)."""
    if key is not None:
        if key in mapping.custom:
            return f"mapped (custom.{key} <- {' or '.join(mapping.custom[key])})"
        return "a constant of the mapping" if key in (mapping.constants.get("custom") or {}) else ""
    if name in mapping.fields:
        return f"mapped ({name} <- {' or '.join(mapping.fields[name])})"
    if name in ("first", "last") and "name" in mapping.fields:
        return f"mapped (name <- {' or '.join(mapping.fields['name'])}, split on its last space)"
    return "a constant of the mapping" if name in mapping.constants else ""


def _found(value: Any, places: list[tuple[str, str]]) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    texts = [str(item).strip() for item in items if str(item).strip()]
    exact = [path for path, leaf in places if leaf in texts]
    if not exact:
        exact = [path for path, leaf in places if any(text in leaf for text in texts)]
    return list(dict.fromkeys(exact))[:MAX_PLACES]


def _contact(
    story: ContactStory, submission: Submission, operation: ContactOperation, default_country: str, unmasked: bool
) -> None:
    from heymarket_bridge.domain.contact import contact_evidence
    from heymarket_bridge.domain.country import country_of
    from heymarket_bridge.domain.mapping import Unmappable

    contact = operation.contact
    raw = {} if isinstance(submission, Unmappable) else submission
    evidence = contact_evidence(raw)
    country = country_of("+" + contact.phone)
    story.country = f"{country.region} (+{country.code})" if country is not None else "no country (non-geographic)"
    written = str(raw.get("phone", "")).strip()
    if written.startswith(("+", "00")):
        story.evidence.append("the phone is written in international form: it names its own country")
    story.evidence += [
        ("about the number: " if ev.of_number else "about the person: ") + ev.describe() for ev in evidence
    ]
    if not evidence and not written.startswith(("+", "00")):
        story.evidence.append(f"no evidence in the payload: read in DefaultCountry {default_country}")
    if operation.consent is not None:
        claim = operation.consent
        story.consent = f"{claim.field} = {claim.value!r}" + (f" at {claim.consented_at}" if claim.consented_at else "")
    if contact.is_opted_out is not None:
        story.consent = (story.consent + "; " if story.consent else "") + (
            "an opt-out (is_opted_out true)" if contact.is_opted_out else "consent given (is_opted_out false)"
        )
    story.writes = list(heymarket_writes(operation, unmasked))
    story.queued = contact.to_dict()


def heymarket_writes(operation: ContactOperation, unmasked: bool = False) -> Iterator[str]:
    """The requests the sync function makes for one queued contact, in order (heymarket_bridge.sync.service)."""
    contact = operation.contact
    if contact.tag_names():
        yield f"POST /v1/tags (read): tag names {contact.tag_names()} resolved to ids"
    titles = [key for key in contact.custom or {} if not key.isdigit()]
    if titles:
        yield f"POST /v1/contact-fields (read): custom-field titles {titles} resolved to ids"
    body = contact.to_heymarket()
    if not unmasked:
        body = _masked_body(body)
    phone = contact.phone if unmasked else _mask("phone", contact.phone)
    what = "an opt-out: " if contact.is_opted_out is True else ""
    yield f"POST /v2/contacts/search by phone {phone} (the contact Heymarket holds, if any)"
    yield f"{what}POST /v2/contacts upsert (an update of the contact found, else a create): {json.dumps(body)}"
    for ref in contact.lists or ():
        kind = f"list {ref}" if isinstance(ref, int) else f"managed list {ref!r} (created on first use)"
        action = "remove_phones" if contact.is_opted_out is True else "add_phones"
        yield f"PUT /v2/lists/{{id}} {action} for {kind}, once the contact is stored"


def _masked_body(body: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: _mask(name, value) for name, value in body.items()}
    if isinstance(out.get("contact_channels"), list):
        out["contact_channels"] = [
            {**channel, "channel_id": _mask(str(channel.get("channel_type")), channel.get("channel_id"))}
            for channel in out["contact_channels"]
            if isinstance(channel, Mapping)
        ]
    return out


def _mask(name: str, value: Any) -> Any:
    from heymarket_bridge.observability import mask_email, mask_phone

    if name == "phone" and isinstance(value, str | int):
        return mask_phone(str(value)) or "***"
    if name == "email" and isinstance(value, str):
        return mask_email(value)
    return value


def _shown(name: str, value: Any, unmasked: bool) -> str:
    shown = value if unmasked else _mask(name, value)
    return shown if isinstance(shown, str) else json.dumps(shown)


def _leaves(request: WebhookRequest) -> list[tuple[str, str]]:
    """Every text or number of the payload with its place (a JSON path, a form field, an XML element), for telling
    where a value was found."""
    from heymarket_bridge.ingest.bodies import form_pairs, looks_like_json

    content_type = request.headers.get("content-type", "").lower()
    try:
        if looks_like_json(request.body):
            return list(_json_leaves(json.loads(request.body), ""))
        if "xml" in content_type:
            from defusedxml import ElementTree

            return list(_xml_leaves(ElementTree.fromstring(request.body), ""))
        if "multipart/" in content_type:
            from heymarket_bridge.ingest.sources.jotform import multipart_pairs

            return list(_form_leaves(multipart_pairs(request)))
        return list(_form_leaves(form_pairs(request)))
    except Exception:  # noqa: BLE001 - the source read it; only the telling of where values were is lost
        return []


def _form_leaves(pairs: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """A form's fields, and the fields inside one that holds JSON (Jotform's rawRequest)."""
    from heymarket_bridge.ingest.bodies import looks_like_json

    for name, value in pairs:
        if looks_like_json(value.encode()):
            try:
                yield from _json_leaves(json.loads(value), name)
                continue
            except ValueError:
                pass
        yield name, value.strip()


def _json_leaves(data: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _json_leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from _json_leaves(value, f"{path}[{n}]")
    elif data is not None and not isinstance(data, bool):
        yield path, str(data).strip()


def _xml_leaves(element: Any, path: str) -> Iterator[tuple[str, str]]:
    name = str(element.tag).rsplit("}", 1)[-1]
    here = f"{path}/{name}" if path else name
    if element.text and element.text.strip():
        yield here, element.text.strip()
    for child in element:
        yield from _xml_leaves(child, here)


# ---------------------------------------------------------------------------------------------- the bulk delete


def explain_deletes(
    body: bytes, content_type: str, default_country: str = "US", *, unmasked: bool = False
) -> list[str]:
    """What a bulk delete request (POST /contacts/delete) would do, one line per target, read by the ingest
    function's own parser (heymarket_bridge.ingest.deletes.parse_delete_request); raises the WebhookError its sender
    would get for a request refused as a whole. The sync function deletes by UUID (`DELETE /v2/contacts`), looking a
    phone's contacts up first (heymarket_bridge.adapters.heymarket.contacts.deletes)."""
    from heymarket_bridge.ingest.deletes import parse_delete_request
    from heymarket_bridge.settings import IngestSettings

    media = content_type.split(";", 1)[0].strip().lower()
    # MaxContactsPerRequest's default: the template's, and IngestSettings'.
    limit = IngestSettings(queue_url="", webhook_secrets_arn="").max_contacts_per_request
    targets, invalid = parse_delete_request(body, media, default_country, limit)
    lines = []
    for target in targets:
        if target.contact_id is not None:
            lines.append(f"delete contact_id {target.contact_id}: DELETE /v2/contacts by that UUID (permanent)")
        else:
            phone = target.phone if unmasked else _mask("phone", target.phone)
            lines.append(
                f"delete phone {phone}: POST /v2/contacts/search by phone, then DELETE /v2/contacts of every contact "
                "holding it (permanent)"
            )
    lines += [f"refused {item.field}[{item.index}]: {'; '.join(item.errors)}" for item in invalid]
    return lines
