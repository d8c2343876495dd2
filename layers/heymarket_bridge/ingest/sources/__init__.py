"""The senders: one module per vendor, registered in `base.py` (the only list of source names)."""
