"""Acuity Scheduling's API: an appointment by its id, read with HTTP Basic (User ID : API key).

`GET {AcuityBaseUrl}/api/v1/appointments/{id}` (https://developers.acuityscheduling.com/reference). Answers: 200 with
the appointment; 401 (bad credentials) and 403: the credentials are refused; 404 (and a 400 naming a bad id): it
cannot be fetched, ever; 429 (the rate limit) and 5xx: transient.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from heymarket_bridge.adapters.vendors.http import VendorHttp
from heymarket_bridge.ingest.failures import FetchGone, FetchRefused, FetchTransient
from heymarket_bridge.ingest.notices import FetchNotice, record_id
from heymarket_bridge.ingest.sources.acuity import USER_ID_ENTRY
from heymarket_bridge.ingest.sources.common import SourceCredentials


class AcuityAppointments:
    """Acuity appointments from the API at `base_url` (https://acuityscheduling.com, or a stand-in)."""

    def __init__(self, http: VendorHttp, base_url: str) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    def fetch(self, notice: FetchNotice, credentials: SourceCredentials) -> Mapping[str, Any]:
        api_key, user_id = credentials.secret, credentials.entry(USER_ID_ENTRY)
        if not api_key or user_id is None:
            raise FetchRefused(f"the webhook secrets need the acuity (API key) and {USER_ID_ENTRY} entries")
        appointment = record_id(notice.record_id)
        if appointment is None:
            raise FetchGone("the appointment id is not an id of digits")
        basic = base64.b64encode(f"{user_id}:{api_key}".encode()).decode("ascii")
        answer = self._http.get(
            f"{self._base_url}/api/v1/appointments/{appointment}",
            {"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        said = f"Acuity answered {answer.status}"
        if answer.status == 200 and isinstance(answer.data, dict):
            return answer.data
        if answer.status in (401, 403):
            raise FetchRefused(f"{said}: the User ID and API key are refused")
        if answer.status in (400, 404):
            raise FetchGone(f"{said}: the appointment does not exist")
        raise FetchTransient(said, throttled=answer.status == 429)
