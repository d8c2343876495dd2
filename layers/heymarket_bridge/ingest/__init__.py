"""The ingest use case: route a webhook once, authenticate it, read it, validate its contacts and buffer them.
Imports domain/, settings and observability; never sync/, adapters/ or app/.

- service.py: IngestService, the one place that routes a request and builds every reply;
- ports.py: everything the use case needs from outside (queue, ledgers, refusal letters, secrets) and their failures;
- planning.py validates a delivery's contacts, per_phone.py merges each phone's, buffer.py queues them (repeats.py
  decides what is a repeat), letters.py writes the refused ones to the DLQ, replies.py shapes the answer;
- deletes.py: the bulk delete request;
- http.py, bodies.py, times.py, signatures.py: the request, its body, the times and signatures senders send;
- sources/: one module per sender (base.py finds them), common.py what they share.
"""
