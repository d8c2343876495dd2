"""WordPress form plugins: Gravity Forms (Webhooks Add-On), WPForms (Webhooks addon), Contact Form 7 through a webhook
plugin, and Elementor Pro's form "Webhook" action; one source, /webhooks/wordpress.

None of them signs its requests. Authenticity: the source's token, as `X-Bridge-Token` or `Authorization: Bearer`
(Gravity Forms' feed and WPForms' webhook take custom request headers: docs.gravityforms.com/triggering-webhooks-
form-submissions), else `?token=` in the URL (Elementor's action takes a URL only: github.com/orgs/elementor/
discussions/21768). A token signs no time: a recorded request can be replayed, and is then a repeat of the entry id
it names (Gravity Forms), else of the newest contact seen for its phone (heymarket_bridge.ingest.service).
Body: JSON or a form post (Gravity Forms' feed has both formats). The plugin is told by `?plugin=` in the URL
(gravity_forms, wpforms, contact_form_7, elementor), else recognised from the body:

- Gravity Forms, "All Fields": the entry object (docs.gravityforms.com/entry-object), answers keyed by field id:
  a Name field's inputs `<id>.3` (first) and `<id>.6` (last), an Address field's `<id>.1`-`<id>.6` (`.6` the
  country), phone and email by their field ids, with `id`, `form_id` and `date_created` (UTC, "Y-m-d H:i:s"). A
  field id says nothing of what the field holds, so the phone must be mapped: {"wordpress": {"phone": "4"}}; without
  it the entry is rejected with that reason. Recognised without `?plugin=` by `form_id` beside field-id keys.
  "Select Fields": the keys the feed's author typed (`phone`, `email`, `first_name`...), read as labels below; add
  `entry_id` (Entry ID), `form_id` and `date_created` (Entry Date) to give the entry's identity and time.
- WPForms: the keys mapped in the webhook's Request Body, read as labels.
- Contact Form 7 (webhook plugins such as "CF7 to Webhook" / "Webhook Configuration CF7", wordpress.org/plugins/
  webhook-configuration-cf7): CF7 field names as keys (`your-name`, `your-email`, `tel-123` from the [tel] tag), at
  the top level or under `form_data` ("WP Webhooks - Contact Form 7 Integration").
- Elementor Pro: field labels as keys (simple payload), or with "Advanced Data" each field as `fields[<id>][title]`,
  `[type]`, `[value]` (form-encoded; a JSON `fields` list or object of {id, title or label, type, value} is read the
  same way, as is WPForms' entry `fields`).

Labels are read as in heymarket_bridge.ingest.labels: phone = the first field asking for a phone (or typed
"tel" / "phone"), never one about someone else's; its country a "Country" field's answer (or a Gravity Address's
country); email, first and last from their labels. SMS consent is never read from a label: a mapping may name
`is_opted_out`.
Mapping references (SOURCE_MAPPINGS): a key as sent (a Gravity field id "4", "1.3"; a CF7 name), else a label.

    {"wordpress": {"phone": "4", "email": "3", "custom": {"101": "5"}, "constants": {"tags": ["Website"]}}}

Delivery identity: the Gravity entry (`form_id` with `id` or `entry_id`) where the body names it, with the body's
digest; the entry's `date_created` orders a contact's changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.fields import single
from heymarket_bridge.domain.mapping import Submission, is_blank
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import FORM_TYPE, JSON_TYPES, form_pairs, json_of_type
from heymarket_bridge.ingest.failures import BadRequest, UnsupportedMediaType
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.labels import (
    LabelledAnswer,
    answer_of,
    labelled_contact,
    person_country,
    phone_candidates,
)
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneChoice,
    PhoneField,
    ReadContext,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.sources.generic import require_token
from heymarket_bridge.ingest.times import iso_time

GRAVITY, WPFORMS, CF7, ELEMENTOR = "gravity_forms", "wpforms", "contact_form_7", "elementor"
PLUGINS = {
    **dict.fromkeys(("gravity_forms", "gravityforms", "gravity"), GRAVITY),
    **dict.fromkeys(("wpforms", "wp_forms"), WPFORMS),
    **dict.fromkeys(("contact_form_7", "contactform7", "cf7"), CF7),
    **dict.fromkeys(("elementor", "elementor_pro"), ELEMENTOR),
}
# A Gravity Forms field id, or one input of a field ("1.3"): the keys of an "All Fields" entry.
GRAVITY_KEY = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?")
# Elementor's "Advanced Data" keys: fields[<id>][<attribute>].
ADVANCED_KEY = re.compile(r"fields\[([^\]]{1,200})\]\[([a-z_]{1,40})\]")
# The entry object's own keys (docs.gravityforms.com/entry-object): never an answer.
ENTRY_KEYS = frozenset(
    (
        *("id", "form_id", "date_created", "date_updated", "is_starred", "is_read", "ip", "source_url", "post_id"),
        *("currency", "payment_status", "payment_date", "transaction_id", "payment_amount", "payment_method"),
        *("is_fulfilled", "created_by", "transaction_type", "user_agent", "status", "source_id", "entry_id"),
    )
)
MAX_ANSWERS = 1000


class WordPressSource(SourceDefaults):
    name = "wordpress"
    credentials = (
        CredentialEntry(
            "wordpress",
            "bridge",
            "a token the form plugin presents (a custom header X-Bridge-Token or Authorization: Bearer, or ?token= "
            "in the webhook URL for Elementor)",
        ),
    )
    sample_event = "gravity_forms_select_fields"

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        require_token(request, context.credentials.secret, self.name)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        plugin = _plugin(request)
        pairs = _pairs(request)
        envelope = {key: single(value) for key, value in pairs if key in ENTRY_KEYS}
        entry_id = envelope.get("id") or envelope.get("entry_id")
        form_id = envelope.get("form_id")
        sender_id = f"{form_id}:{entry_id}" if _is_id(form_id) and _is_id(entry_id) else None
        delivery_identity = identity(sender_id, request.body)
        moment = iso_time(envelope.get("date_created"))
        by_field_id = plugin == GRAVITY or (plugin is None and _looks_like_all_fields(pairs))
        if by_field_id and any(GRAVITY_KEY.fullmatch(key) for key, _ in pairs):
            submission = _all_fields(pairs, context)
        else:
            submission = _labelled(_answers(pairs), context)
        return Delivery([submission], delivery_identity, (moment,), (), (sender_id,))


def _plugin(request: WebhookRequest) -> str | None:
    """The plugin `?plugin=` names, None when the URL names none; 400 for a name the bridge does not know."""
    named = request.query.get("plugin", "").strip().lower().replace("-", "_")
    if not named:
        return None
    if named not in PLUGINS:
        known = ", ".join(sorted(set(PLUGINS.values())))
        raise BadRequest(f"?plugin={shown(named, 40)} is not a plugin the bridge knows: use one of {known}")
    return PLUGINS[named]


def _pairs(request: WebhookRequest) -> list[tuple[str, Any]]:
    """The body's (key, value) pairs in order: a form post's fields, or a JSON object's members (those of its
    `form_data` object too, and each item of a `fields` list or object, as Elementor's "Advanced Data" keys)."""
    content_type = request.content_type
    if content_type == FORM_TYPE:
        return list(form_pairs(request))
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"content type {shown(content_type)} is not supported: the form plugin posts JSON or {FORM_TYPE}"
        )
    payload = json_of_type(request, f"application/json or {FORM_TYPE}")  # text/plain not JSON: 415 too
    if not isinstance(payload, dict):
        raise BadRequest("the WordPress form's body must be a JSON object of fields, or a form post")
    pairs: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if key == "form_data" and isinstance(value, dict):
            pairs.extend((str(k), v) for k, v in value.items())
        elif key == "fields" and isinstance(value, list | dict):
            pairs.extend(_field_objects(value))
        else:
            pairs.append((str(key), value))
    if len(pairs) > MAX_ANSWERS:
        raise BadRequest(f"the WordPress form's body has {len(pairs)} fields; at most {MAX_ANSWERS} are read")
    return pairs


def _field_objects(fields: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """A `fields` list or object of {id, title/label/name, type, value} as Elementor's "Advanced Data" pairs."""
    items = fields.items() if isinstance(fields, dict) else enumerate(fields)
    pairs: list[tuple[str, Any]] = []
    for key, item in list(items)[:MAX_ANSWERS]:
        if not isinstance(item, dict):
            raise BadRequest(f"the field {shown(str(key), 40)} of the WordPress form's fields is not an object")
        field_id = str(item.get("id") or key)
        label = item.get("title") or item.get("label") or item.get("name") or field_id
        pairs += [(f"fields[{field_id}][title]", label), (f"fields[{field_id}][type]", item.get("type") or "")]
        pairs.append((f"fields[{field_id}][value]", item.get("value")))
    return pairs


def _answers(pairs: Sequence[tuple[str, Any]]) -> list[LabelledAnswer]:
    """Every answer, in the body's order: each advanced field (its title the label, its type the kind), each other
    key that is not the entry's own (its key the label)."""
    advanced: dict[str, dict[str, Any]] = {}
    answers: list[LabelledAnswer] = []
    for key, value in pairs:
        match = ADVANCED_KEY.fullmatch(key)
        if match is not None:
            advanced.setdefault(match.group(1), {})[match.group(2)] = value
        elif key not in ENTRY_KEYS and not key.startswith(("form[", "meta[")):
            answers.append(LabelledAnswer(key, key, value))
    for field_id, attributes in advanced.items():
        label = _text(attributes.get("title")) or field_id
        value = attributes.get("value", attributes.get("raw_value"))
        answers.append(LabelledAnswer(field_id, label, value, _text(attributes.get("type")).lower()))
    return answers


def _labelled(answers: list[LabelledAnswer], context: ReadContext) -> Submission:
    defaults, choice = _defaults(answers, context)
    contact = context.mapping.apply(defaults, lambda ref: answer_of(answers, ref), context.is_phone)
    if contact.get("phone") is not None:
        return contact
    candidates = [a.value for a in phone_candidates(answers)]
    none_given = "no field asks for a phone (map the phone field's key or label in SourceMappings)"
    reason = phone_reason(candidates, none_given, "the phone field", choice)
    return no_phone("the WordPress form entry", context.mapping, reason, contact)


def _all_fields(pairs: Sequence[tuple[str, Any]], context: ReadContext) -> Submission:
    """A Gravity Forms "All Fields" entry: names and country from the Name and Address inputs, the rest only as the
    mapping names it (a field id does not say what the field holds)."""
    values = {key: value for key, value in pairs if GRAVITY_KEY.fullmatch(key)}
    answers = [LabelledAnswer(key, key, value) for key, value in values.items()]
    name, person = _gravity_fields(values)
    defaults: dict[str, Any] = {
        "first": values.get(f"{name}.3") if name else None,
        "last": values.get(f"{name}.6") if name else None,
    }
    if person:
        defaults["country_evidence"] = [item.to_dict() for item in person]
    contact = context.mapping.apply(defaults, lambda ref: answer_of(answers, ref), context.is_phone)
    if contact.get("phone") is not None:
        return contact
    reason = (
        'the Gravity Forms "All Fields" entry keys its answers by field id, which does not say which is the phone: '
        'map the phone field\'s id in SourceMappings ({"wordpress": {"phone": "<field id>"}}), or send '
        '"Select Fields" with a key named phone'
    )
    # With the phone mapped, no_phone names the mapped field instead.
    return no_phone("the Gravity Forms entry", context.mapping, reason, contact)


def _gravity_fields(values: Mapping[str, Any]) -> tuple[str | None, tuple[CountryEvidence, ...]]:
    """The first Name field's id (a field with inputs .3 and .6 and no .1 or .5), and each Address field's country
    (its .6). Every multi-input Name format has .3 (first name: https://docs.gravityforms.com/name/); an Address has
    .1 street and .5 postcode, which a Name never has, and may hide any of its inputs
    (https://docs.gravityforms.com/address/): so a field with .6 is an Address, its .6 the country, unless it has .3
    and neither .1 nor .5 (a Name's last name)."""
    inputs: dict[str, set[str]] = {}
    for key in values:
        field_id, _, part = key.partition(".")
        inputs.setdefault(field_id, set()).add(part)
    addresses = [f for f, parts in inputs.items() if parts & {"1", "5"} or ("6" in parts and "3" not in parts)]
    names = [f for f, parts in inputs.items() if parts & {"3", "6"} and f not in addresses]
    person = tuple(
        CountryEvidence(f"{f}.6 (an Address field's country)", values[f"{f}.6"])
        for f in addresses
        if not is_blank(values.get(f"{f}.6"))
    )
    return (names[0] if names else None), person


def _looks_like_all_fields(pairs: Sequence[tuple[str, Any]]) -> bool:
    """An entry object: `form_id` beside keys that are field ids."""
    keys = [key for key, _ in pairs]
    return "form_id" in keys and sum(1 for key in keys if GRAVITY_KEY.fullmatch(key)) >= 1


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and 0 < len(value.strip()) <= 64) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _text(value: Any) -> str:
    value = single(value)
    return value if isinstance(value, str) else ""


def _defaults(answers: list[LabelledAnswer], context: ReadContext) -> tuple[dict[str, Any], PhoneChoice]:
    """The contact the labels give, and the phone chosen among the answers asking for one."""
    fields = [PhoneField(a.name, a.value) for a in phone_candidates(answers)]
    choice = choose_phone(fields, context, person_country(answers))
    return {**choice.defaults(), **labelled_contact(answers)}, choice


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = WordPressSource
