"""In-memory Heymarket API sandbox for the tests, `make demo` and the benchmarks.

Heymarket has no public sandbox, so this server plays its part on 127.0.0.1, built from Heymarket's documentation
only (../shared/HEYMARKET_API.md, kept in this repository as tests/contract/heymarket_examples/): where the
reference shows a shape, the sandbox answers in it to the letter; where it is silent, the sandbox plays each way
Heymarket might behave as a SandboxConfig setting, so that a client can be tested against all of them.

Documented, played as documented: contacts with an integer `id` (from 98765) and a UUID; `POST /v2/contacts`
answering `{"contacts", "failed_contacts"}`; `POST /v2/contacts/search` answering a bare array; `DELETE
/v2/contacts` by UUID answering "ok"; `POST /v2/contact` and `GET/PUT/DELETE /v2/contact/{uuid}`; the v1 contact
endpoints by integer id (`POST /v1/contact`, `POST /v1/contact/get`, `GET/PUT/DELETE /v1/contact/{id}`,
`POST /v1/batch/contacts`), `POST /v1/contact-fields`, `GET /v1/inboxes`; tags (`POST /v1/tags`, `POST
/v1/tag`, `GET/DELETE /v1/tag/{id}`) and lists (`POST /v2/lists`, `PUT/DELETE /v2/lists/{id}`); JWT and
legacy-key auth; 500 requests a minute; errors `{"error_code", "message"}` and an `X-Request-Id` on every answer.

Not documented, one setting each (config.py gives every value): `duplicate_create`, `identifiers`,
`answer_deviations` (answers that deviate from the reference while meaning one thing only),
`delete_unknown`, `list_local_id_repeat`, `update_omitted`, `update_custom`, `max_bulk_contacts`,
`max_body_bytes`, `retry_after_s`, `opt_in_over_stop` (an opt-in written over a STOP: accepted, ignored or
refused), `update_phone_held` (an update by contact_id to a phone another contact holds), `custom_fields` and
`account_tags` (what the account holds); `texts` (STOP or START texted from a phone,
applied as Heymarket's app does, with no API request; also `HeymarketSandbox.text`);
faults: `fail_rate`, `throttle_burst`, `contact_error_rate`,
`forbidden_endpoints`, `answer_fault` (with `answer_fault_rate`, `answer_fault_endpoints`, `trickle_seconds`,
`redirect_status`), `latency_ms`, `reset_rate`. Smaller choices are listed in the docstrings of contacts.py and
tags_lists.py; failed-contact error texts are human text that clients must not parse.

Run it alone with `python -m heymarket_sandbox --port 8099` (or `heymarket-bridge sandbox`, same
options: one per setting); it prints `READY {"url": ...}` once it accepts connections. Endpoints under
`/_sandbox/` need no auth and are not counted: GET contacts (each with its integer id and its uuid, oldest first),
GET lists (with their members' phones), GET tags, GET stats, POST reset, GET/POST faults (every setting), and POST
app-phone-change `{"contact": <id or UUID>, "phone": "<digits>"}`: a contact's number changed as a person does in
Heymarket's app (no API request, no write listener: clients learn it only from later answers).
"""

from heymarket_sandbox.command import main
from heymarket_sandbox.config import (
    API_ENDPOINTS,
    DEFAULT_CONFIG,
    SandboxConfig,
    SettingOption,
    add_arguments,
    config_from_args,
    setting_options,
)
from heymarket_sandbox.contacts import ContactWrite
from heymarket_sandbox.server import HeymarketSandbox

__all__ = [
    "API_ENDPOINTS",
    "DEFAULT_CONFIG",
    "ContactWrite",
    "HeymarketSandbox",
    "SandboxConfig",
    "SettingOption",
    "add_arguments",
    "config_from_args",
    "main",
    "setting_options",
]
