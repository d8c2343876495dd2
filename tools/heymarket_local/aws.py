"""The local AWS: moto in server mode on 127.0.0.1, reached by boto3 through an endpoint URL only.

The handlers keep calling `boto3.client(service)` exactly as they do on AWS: `environment()` gives the
variables (AWS_ENDPOINT_URL, fake credentials, a region) that point every such client at this server.

moto's own `ThreadedMotoServer` is not used as is: its stop() leaves the listening socket open until
garbage collection and keeps serving idle keep-alive connections, so the port would not be free right
after a stop. `LocalAws` serves the same moto application with a server it can close completely.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any, Final

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

from heymarket_local.moto_dynamodb import item_scoped_transactions
from heymarket_local.moto_sqs import serialised_sqs
from heymarket_sandbox.serving import Serving, TrackedServer

LOCAL_HOST: Final = "127.0.0.1"
LOCAL_REGION: Final = "us-east-1"
# moto accepts any credentials; fixed fake ones make sure no real account's keys are ever used.
FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Variables that could send boto3 to a real account or profile; removed from the handlers' environment.
AWS_VARIABLES_TO_CLEAR: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


_COUNTS: Final = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_not_visible",
    "approximate_number_of_messages_delayed",
)
_count_scope = threading.local()


def _linear_moto_sqs() -> None:
    """Keep moto's SQS linear in the queue's depth, as SQS is: count a queue's messages only where counts are read.

    moto builds every attribute of a queue to read any one of them, and three of them count the messages by
    scanning the whole queue: each SendMessage (which reads only ContentBasedDeduplication) scanned the queue, so
    sending N messages cost N^2 (a 50,000-contact import ran for hours); ReceiveMessage read the retention period
    that way once per message it looked at; each GetQueueAttributes scanned the queue about thirty times. Within
    SendMessage and ReceiveMessage the counts are not computed (nothing there uses them); within one
    GetQueueAttributes each is computed once. Every answer stays exact. Applied once per process.
    """
    from moto.sqs.models import Queue, SQSBackend

    if getattr(Queue, "_heymarket_bridge_linear", False):
        return
    for name in _COUNTS:
        original = getattr(Queue, name)
        if isinstance(original, property) and original.fget is not None:
            setattr(Queue, name, property(_scoped_count(name, original.fget)))
    for method, skip in (
        ("send_message", True),
        ("send_message_batch", True),
        ("receive_message", True),
        ("get_queue_attributes", False),
    ):
        setattr(SQSBackend, method, _count_scope_of(getattr(SQSBackend, method), skip=skip))
    Queue._heymarket_bridge_linear = True  # type: ignore[attr-defined]


def _count_scope_of(method: Any, *, skip: bool) -> Any:
    def scoped(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_count_scope, "memo", None) is not None:  # nested (SendMessageBatch -> SendMessage)
            return method(self, *args, **kwargs)
        _count_scope.memo, _count_scope.skip = {}, skip
        try:
            return method(self, *args, **kwargs)
        finally:
            _count_scope.memo = None

    return scoped


def _scoped_count(name: str, count: Any) -> Any:
    def scoped(queue: Any) -> int:
        memo: dict[tuple[int, str], int] | None = getattr(_count_scope, "memo", None)
        if memo is None:
            return int(count(queue))
        if _count_scope.skip:
            return 0
        key = (id(queue), name)
        if key not in memo:
            memo[key] = int(count(queue))
        return memo[key]

    return scoped


class _QuietMotoRequestHandler(MotoRequestHandler):
    """moto's request handler without one access-log line per AWS call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Stay quiet: the poller alone makes several calls a second."""


class _MotoServer(TrackedServer, ThreadedWSGIServer):
    """Werkzeug's threaded server serving moto, with its connections tracked (see serving.py)."""

    def __init__(self, listener: socket.socket) -> None:
        # Binding here (not in werkzeug) turns a busy port into an OSError instead of a sys.exit().
        super().__init__(
            LOCAL_HOST,
            listener.getsockname()[1],
            DomainDispatcherApplication(create_backend_app),
            handler=_QuietMotoRequestHandler,
            fd=listener.fileno(),
        )


class LocalAws:
    """moto (SQS, Secrets Manager and the rest) on 127.0.0.1; port 0 picks a free one."""

    def __init__(self, port: int = 0, region: str = LOCAL_REGION) -> None:
        self._port = port
        self.region = region
        self._serving: Serving | None = None
        self._session: boto3.session.Session | None = None
        self._session_lock = threading.Lock()

    def start(self) -> LocalAws:
        """Listen and serve in a background thread; raises OSError if the port is taken."""
        if self._serving is not None:
            return self
        _linear_moto_sqs()
        serialised_sqs()  # one SQS call at a time, as SQS behaves: moto's message list has no lock
        item_scoped_transactions()  # the contact state table's transactions, at the cost of their items
        listener = socket.create_server((LOCAL_HOST, self._port))
        try:
            server = _MotoServer(listener)
        finally:
            listener.close()  # werkzeug serves a duplicate of it
        self._port = server.server_address[1]
        self._serving = Serving(server, f"moto-{self._port}")
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and free the port; safe to call twice."""
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._serving is None:
            raise RuntimeError("the local AWS is not running: call start() first")
        return f"http://{LOCAL_HOST}:{self._port}"

    def client(self, service: str, max_pool_connections: int = 10) -> Any:
        """A boto3 client of this server that ignores the process environment and any AWS profile."""
        endpoint_url = self.endpoint_url
        config = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=max_pool_connections)
        # One session: it caches the service models, which makes every client after the first cheap.
        with self._session_lock:
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                    region_name=self.region,
                )
            return self._session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

    def environment(self) -> dict[str, str]:
        """The variables that send `boto3.client(service)` to this server with fake credentials."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # No profile or shared file can then add credentials, a role or another endpoint.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
