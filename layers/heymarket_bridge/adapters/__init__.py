"""Adapters at the edge: SQS, Secrets Manager and the Heymarket HTTP API."""
