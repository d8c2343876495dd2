"""heymarket-bridge: push contacts from forms, CRMs and shops into Heymarket in bulk."""

__version__ = "0.1.0"
