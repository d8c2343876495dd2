"""The senders: one module per vendor, built into a registry by `base.py`.

`SOURCE_NAMES` is read here, from this package's file listing, so that a reader of the names alone (the operator
command's help) imports nothing else: every module of this package but `base` and `common` is one sender's source,
named as its module (/webhooks/<module name>).
"""

from __future__ import annotations

import os

# The modules of this package that are not a sender's source.
_SHARED_MODULES = frozenset({"base", "common"})


def _source_modules() -> list[str]:
    """The names of this package's modules that are sources: a listing of its folder (nothing is imported; the
    layer ships the .py files beside their bytecode)."""
    files = [entry.name for entry in os.scandir(os.path.dirname(__file__)) if entry.is_file()]
    modules = (name.removesuffix(".py") for name in files if name.endswith(".py") and not name.startswith("_"))
    return sorted(name for name in modules if name not in _SHARED_MODULES)


# The names a webhook URL may carry (/webhooks/<name>); SOURCE_MAPPINGS and the webhook-secrets secret use them.
SOURCE_NAMES = frozenset(_source_modules())
