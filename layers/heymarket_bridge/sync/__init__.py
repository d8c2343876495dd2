"""The sync use case: apply queued operations to Heymarket in bulk, newest change winning. Imports domain/ and
observability; never ingest/, adapters/ or app/."""
