"""The ingest use case: route a webhook once, authenticate it, read it, validate its contacts and buffer them.
Imports domain/, settings and observability; never sync/, adapters/ or app/."""
