"""The operator's `dlq redrive --set` (heymarket_bridge_tools.dlq.DeadLetterQueue) end to end: a refusal letter
corrected and sent again reaches the sandbox Heymarket through the sync Lambda (moto queues built from the template)."""

from __future__ import annotations

from heymarket_bridge_tools.dlq import DeadLetterQueue
from heymarket_bridge_tools.ops import StackQueues
from tests.integration.bridge import Bridge
from tests.integration.test_sync_handler import bridge, sandbox, stored
from tests.support import load_event

__all__ = ["bridge", "sandbox"]  # the running bridge and its sandbox, as the sync handler's tests make them


def test_a_contact_refused_at_ingest_is_a_refusal_letter_that_reaches_heymarket_once_corrected(bridge: Bridge) -> None:
    # Given a delivery whose Carol has no valid phone: the sender is answered 202, and she is a refusal letter
    assert bridge.post(load_event("generic/mixed_contacts"))[0] == 202
    assert bridge.sync(bridge.receive_event()) == []
    dlq = DeadLetterQueue(bridge.sqs, StackQueues(bridge.resources.queue_url, bridge.resources.dlq_url))
    [carol] = [entry for entry in dlq.entries() if entry.refused_at_ingest]
    assert carol.letter is not None
    assert carol.letter.fields == {"phone": "555-12", "first": "Carol", "email": "carol@@example"}

    # When an operator corrects her phone and email and sends her again
    report = dlq.redrive(sets={"phone": "+1 415 555 0177", "email": "carol@example.com"})

    # Then she goes through validation and the sync function to Heymarket, from her source
    assert (report.moved, report.failed) == (1, 0)
    assert bridge.sync(bridge.receive_event()) == []
    assert stored(bridge.sandbox)["14155550177"]["email"] == "carol@example.com"
    assert dlq.depth() == (0, 0)
