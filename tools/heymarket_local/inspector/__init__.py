"""The local stack's inspector page: every delivery, its contacts, their Heymarket writes and letters (server.py)."""
