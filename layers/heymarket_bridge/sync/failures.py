"""The sync use case's own failures, in one place (Heymarket's kinds of failure are heymarket_bridge.domain.failures).

- `StateNotReady`: a contact's state cannot be used now (a `TransientFailure`: the message waits on its last receive);
- `StateUnavailable`: the contact state table did not answer (raised by `ContactStatePort`);
- `StoreUnavailable`: the managed-lists table did not answer (raised by `ManagedStore`);
- `ListGone`: Heymarket holds no list with the id written to (a `PermanentFailure` from `SegmentsPort`).
"""

from __future__ import annotations

from heymarket_bridge.domain.failures import PermanentFailure, TransientFailure


class StateNotReady(TransientFailure):
    """The contact's state cannot be used now: the table did not answer, or another invocation is applying an
    operation to the same contact. Not the contact's fault: on its last receive the message waits (put back on the
    queue) instead of being dead-lettered."""


class StateUnavailable(Exception):
    """The contact state table did not answer, or not in time (`str()` says how, never with a phone)."""


class StoreUnavailable(Exception):
    """The managed-lists table could not be read or written (it may work later)."""


class ListGone(PermanentFailure):
    """Heymarket holds no list with the id written to (deleted in its app, or never there)."""
