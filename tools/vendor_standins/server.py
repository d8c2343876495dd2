"""The stand-ins' HTTP server: Graph's `GET /{version}/{lead id}` and Acuity's `GET /api/v1/appointments/{id}`, their
documented error answers as faults, and control endpoints (`/_standin/...`) for the tests and the demo.

Graph errors (https://developers.facebook.com/docs/graph-api/guides/error-handling) come as `{"error": {"message",
"type", "code", "error_subcode", "fbtrace_id"}}`: 190 OAuthException for a token that is not the Page token,
100 for a lead that does not exist, 4 for the app's request limit. Acuity answers 401 `{"status_code": 401,
"message": "Unauthorized", "error": "unauthorized"}` for bad Basic credentials and 404 `not_found` for an unknown id.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vendor_standins.records import sample_appointment, sample_lead

# Faults a test or the demo sets for the next `count` requests to one vendor.
FAULTS: Mapping[str, Mapping[str, tuple[int, dict[str, Any]]]] = {
    "graph": {
        "token_expired": (
            400,
            {
                "error": {
                    "message": "Error validating access token: Session has expired",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 463,
                    "fbtrace_id": "standin",
                }
            },
        ),
        "leads_access_withheld": (
            403,
            {
                "error": {
                    "message": "(#200) The CRM access has been revoked from Lead Access Manager",
                    "type": "OAuthException",
                    "code": 200,
                    "fbtrace_id": "standin",
                }
            },
        ),
        "throttled": (
            400,
            {
                "error": {
                    "message": "(#4) Application request limit reached",
                    "type": "OAuthException",
                    "code": 4,
                    "fbtrace_id": "standin",
                }
            },
        ),
        "server_error": (500, {"error": {"message": "An unknown error occurred", "code": 1, "fbtrace_id": "standin"}}),
        "gone": (
            400,
            {
                "error": {
                    "message": "Unsupported get request. Object does not exist",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "standin",
                }
            },
        ),
    },
    "acuity": {
        "unauthorized": (401, {"status_code": 401, "message": "Unauthorized", "error": "unauthorized"}),
        "throttled": (429, {"status_code": 429, "message": "Too Many Requests", "error": "too_many_requests"}),
        "server_error": (500, {"status_code": 500, "message": "Internal Server Error", "error": "server_error"}),
        "gone": (404, {"status_code": 404, "message": "Appointment not found.", "error": "not_found"}),
    },
}
_GRAPH_LEAD = re.compile(r"/v[0-9]{1,3}\.[0-9]{1,2}/([0-9]{1,64})")
_ACUITY_APPOINTMENT = re.compile(r"/api/v1/appointments/([0-9]{1,64})")


class VendorStandins:
    """Both stand-ins on one local port, with the credentials they accept and the records they hold."""

    def __init__(
        self,
        *,
        page_token: str,
        acuity_user_id: str,
        acuity_api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.page_token = page_token
        self.acuity_basic = base64.b64encode(f"{acuity_user_id}:{acuity_api_key}".encode()).decode()
        self.leads: dict[str, dict[str, Any]] = {}
        self.appointments: dict[str, dict[str, Any]] = {}
        self.requests = {"graph": 0, "acuity": 0}
        self._faults: dict[str, list[str]] = {"graph": [], "acuity": []}
        self.lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """The documented examples only, no faults, the counts at zero."""
        with self.lock:
            lead, appointment = sample_lead(), sample_appointment()
            self.leads = {lead["id"]: lead}
            self.appointments = {str(appointment["id"]): appointment}
            self.requests = {"graph": 0, "acuity": 0}
            self._faults = {"graph": [], "acuity": []}

    def fail(self, vendor: str, fault: str, count: int = 1_000_000) -> None:
        """The next `count` requests to `vendor` answer `fault` (FAULTS); KeyError for an unknown one."""
        if fault not in FAULTS[vendor]:
            raise KeyError(f"unknown {vendor} fault {fault!r}; known: {sorted(FAULTS[vendor])}")
        with self.lock:
            self._faults[vendor] = [fault] * count

    def heal(self) -> None:
        with self.lock:
            self._faults = {"graph": [], "acuity": []}

    def answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """(status, JSON value) for one request."""
        path = urlsplit(target).path
        if path.startswith("/_standin/"):
            return self._control(method, path, body)
        graph, acuity = _GRAPH_LEAD.fullmatch(path), _ACUITY_APPOINTMENT.fullmatch(path)
        if method != "GET" or not (graph or acuity):
            return 404, {"error": {"message": f"Unknown path {path}", "code": 803}}
        vendor = "graph" if graph else "acuity"
        with self.lock:
            self.requests[vendor] += 1
            fault = self._faults[vendor].pop(0) if self._faults[vendor] else None
        if fault is not None:
            return FAULTS[vendor][fault]
        if graph:
            return self._lead(graph.group(1), target, headers)
        return self._appointment(acuity.group(1) if acuity else "", headers)

    def _lead(self, lead_id: str, target: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        query = parse_qs(urlsplit(target).query)
        token = headers.get("authorization", "").removeprefix("Bearer ") or (query.get("access_token") or [""])[0]
        if token != self.page_token:
            return FAULTS["graph"]["token_expired"]
        lead = self.leads.get(lead_id)
        if lead is None:
            return FAULTS["graph"]["gone"]
        fields = (query.get("fields") or [""])[0].split(",")
        return 200, {key: value for key, value in lead.items() if key == "id" or key in fields}

    def _appointment(self, appointment_id: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        if headers.get("authorization", "") != f"Basic {self.acuity_basic}":
            return FAULTS["acuity"]["unauthorized"]
        appointment = self.appointments.get(appointment_id)
        return (200, appointment) if appointment is not None else FAULTS["acuity"]["gone"]

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The control endpoints: GET stats; POST leads, appointments (a record to serve), faults, reset."""
        if method == "GET" and path == "/_standin/stats":
            with self.lock:
                return 200, {"requests": dict(self.requests)}
        payload = json.loads(body or b"null") if method == "POST" else None
        if method != "POST" or not isinstance(payload, dict | None):
            return 404, {"error": f"unknown control {method} {path}"}
        if path == "/_standin/reset":
            self.reset()
            return 200, {}
        if not isinstance(payload, dict):
            return 400, {"error": "a JSON object is expected"}
        if path == "/_standin/faults":
            self.fail(str(payload["vendor"]), str(payload["fault"]), int(payload.get("count", 1_000_000)))
            return 200, payload
        records = {"/_standin/leads": self.leads, "/_standin/appointments": self.appointments}.get(path)
        if records is None:
            return 404, {"error": f"unknown control {method} {path}"}
        with self.lock:
            records[str(payload["id"])] = payload
        return 201, payload

    def start(self) -> VendorStandins:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="vendor-standins", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> VendorStandins:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(standins: VendorStandins) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = min(int(self.headers.get("content-length") or 0), 1_000_000)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, data = standins.answer(self.command, self.path, headers, body)
            except (ValueError, KeyError, TypeError) as exc:
                status, data = 400, {"error": f"bad control request: {type(exc).__name__}"}
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
