"""Meta's Graph API: a lead by its leadgen_id, read with the Page access token.

`GET {GraphBaseUrl}/{GraphApiVersion}/{leadgen_id}?fields=...` with `Authorization: Bearer <Page access token>`
(https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving). Errors come as
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`
(https://developers.facebook.com/docs/graph-api/guides/error-handling), sorted here by code:

- 1 (API unknown), 2 (API service), 4 (app request limit), 17 (user request limit), 32 (Page request limit), 613
  (calls within one hour exceeded), an HTTP 429 or 5xx, or a code this module does not know: transient (4, 17, 32,
  613 and 429 are the quota: `throttled`);
- 190 (access token expired or invalid), 10 and 200-299 (permission; `leads_retrieval` missing, or a Page's Leads
  Access Manager withholding the app's access), 803 ("Some of the aliases you requested do not exist": a token of
  another Page or user, https://github.com/facebookarchive/php-graph-sdk/issues/1121), an HTTP 401 or 403 without a
  code: the credentials are refused;
- 100 (invalid parameter), with or without subcode 33 ("Object does not exist, cannot be loaded due to missing
  permission or reviewable feature", https://github.com/n8n-io/n8n/issues/24736): Meta answers it both for a lead
  that does not exist and for a token without the permission, so it is not taken as "gone" (a lead would be lost to
  a permission problem): it is refused credentials, the lead waits (FetchConfigurationErrors, its alarm) for the
  fetch policy's bounded time, then is a letter whose reason gives both readings;
- a 404 with no Graph error code: the lead cannot be fetched, ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from heymarket_bridge.adapters.vendors.http import VendorAnswer, VendorHttp
from heymarket_bridge.ingest.failures import FetchGone, FetchRefused, FetchTransient
from heymarket_bridge.ingest.notices import FetchNotice, record_id
from heymarket_bridge.ingest.sources.common import SourceCredentials
from heymarket_bridge.ingest.sources.meta import LEAD_FIELDS, PAGE_TOKEN_ENTRY

TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613})
THROTTLED_CODES = frozenset({4, 17, 32, 613})
TOKEN_CODES = frozenset({190, 10, 803}) | frozenset(range(200, 300))
# Meta's "does not exist" that is also its "missing permission": waits as a credentials problem, read both ways.
AMBIGUOUS_CODES = frozenset({100})


class GraphLeads:
    """Meta leads from the Graph API at `base_url` (https://graph.facebook.com, or a stand-in) and `version`."""

    def __init__(self, http: VendorHttp, base_url: str, version: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._version = version.strip("/")

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    def fetch(self, notice: FetchNotice, credentials: SourceCredentials) -> Mapping[str, Any]:
        token = credentials.entry(PAGE_TOKEN_ENTRY)
        if token is None:
            raise FetchRefused(f"no {PAGE_TOKEN_ENTRY} entry (a Page access token) in the webhook secrets")
        lead_id = record_id(notice.record_id)
        if lead_id is None:
            raise FetchGone("the leadgen_id is not an id of digits")
        url = f"{self._base_url}/{self._version}/{lead_id}?{urlencode({'fields': LEAD_FIELDS})}"
        answer = self._http.get(url, {"Authorization": f"Bearer {token}", "Accept": "application/json"})
        if answer.status == 200 and isinstance(answer.data, dict) and "error" not in answer.data:
            return answer.data
        raise graph_failure(answer)


def graph_failure(answer: VendorAnswer) -> FetchTransient | FetchGone | FetchRefused:
    """What a Graph answer that is not a lead means (the module's table)."""
    error = answer.data.get("error") if isinstance(answer.data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    subcode = error.get("error_subcode") if isinstance(error, dict) else None
    said = f"Graph answered {answer.status}" + (f", error code {code}" if code is not None else "")
    said += f" (subcode {subcode})" if subcode is not None else ""
    if isinstance(code, int) and not isinstance(code, bool):
        if code in TOKEN_CODES:
            return FetchRefused(f"{said}: the Page access token is expired, revoked or lacks leads_retrieval")
        if code in AMBIGUOUS_CODES:
            return FetchRefused(
                f"{said}: either the Page access token lacks a permission (leads_retrieval, pages_read_engagement,"
                " or the Page's Leads Access Manager withholds the lead) or the lead does not exist (deleted);"
                " Meta answers both alike: check the token's permissions"
            )
        if code in TRANSIENT_CODES:
            return FetchTransient(said, throttled=code in THROTTLED_CODES)
    if answer.status in (401, 403):
        return FetchRefused(f"{said}: the Page access token is refused")
    if answer.status == 404:
        return FetchGone(f"{said}: the lead does not exist")
    return FetchTransient(said, throttled=answer.status == 429)
