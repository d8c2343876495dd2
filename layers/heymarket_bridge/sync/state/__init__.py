"""Newest change wins: the contact state rules (`rules.py`) and the guard that applies them (`guard.py`)."""
