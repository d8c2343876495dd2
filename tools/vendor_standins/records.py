"""The records the stand-ins serve until told otherwise: each vendor's documented example, with the ids the sample
notifications in events/meta/ and events/acuity/ name.

- A Graph lead, as Meta's "Retrieving leads" guide shows one
  (https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving): `created_time`, `id`, `ad_id`,
  `form_id`, `field_data` ([{"name", "values"}]), `custom_disclaimer_responses` ([{"checkbox_key", "is_checked"}]),
  plus `campaign_id`, `is_organic`, `platform` (the Business SDK's Lead fields). Meta's example has no phone; a phone
  question is added, typed in national form as people do.
- An Acuity appointment, as the API reference shows one (https://developers.acuityscheduling.com/reference): `id`,
  `firstName`, `lastName`, `phone`, `email`, `datetime`, `datetimeCreated`, `canceled`, `calendarID`,
  `appointmentTypeID`, `forms` ([{"id", "name", "values": [{"fieldID", "name", "value"}]}]).
"""

from __future__ import annotations

from typing import Any

# The ids the sample notifications name (events/meta/leadgen.json, events/acuity/appointment_scheduled.json).
SAMPLE_LEAD_ID = "444444444444"
SAMPLE_APPOINTMENT_ID = "1234567890"


def sample_lead(lead_id: str = SAMPLE_LEAD_ID) -> dict[str, Any]:
    return {
        "created_time": "2026-11-23T08:59:55+0000",
        "id": lead_id,
        "ad_id": "666666666666",
        "form_id": "555555555555",
        "campaign_id": "777777777777",
        "is_organic": False,
        "platform": "fb",
        "field_data": [
            {"name": "car_make", "values": ["Honda"]},
            {"name": "full_name", "values": ["Joe Example"]},
            {"name": "email", "values": ["joe@example.com"]},
            {"name": "phone_number", "values": ["(415) 555-0148"]},
            {"name": "selected_dealer", "values": ["99213450"]},
        ],
        "custom_disclaimer_responses": [
            {"checkbox_key": "optional_checkbox", "is_checked": "1"},
            {"checkbox_key": "sms_optin", "is_checked": ""},
        ],
    }


def sample_appointment(appointment_id: str = SAMPLE_APPOINTMENT_ID) -> dict[str, Any]:
    return {
        "id": int(appointment_id),
        "firstName": "Bob",
        "lastName": "McTest",
        "phone": "(212) 555-0176",
        "email": "bob.mctest@example.com",
        "date": "November 30, 2026",
        "time": "10:00am",
        "endTime": "11:00am",
        "dateCreated": "November 23, 2026",
        "datetimeCreated": "2026-11-23T03:59:50-0500",
        "datetime": "2026-11-30T10:00:00-0500",
        "price": "10.00",
        "paid": "no",
        "type": "Initial consultation",
        "appointmentTypeID": 2222,
        "duration": "60",
        "calendar": "My Calendar",
        "calendarID": 1111,
        "canceled": False,
        "timezone": "America/New_York",
        "forms": [
            {
                "id": 1,
                "name": "Intake",
                "values": [
                    {"id": 21502993, "fieldID": 1, "value": "yes", "name": "May we text you reminders?"},
                    {"id": 21502994, "fieldID": 2, "value": "None", "name": "Known allergies"},
                ],
            }
        ],
    }
