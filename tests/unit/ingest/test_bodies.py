"""The character sets a body may declare (heymarket_bridge.ingest.bodies.TEXT_CHARSETS), written as codec names."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys

from heymarket_bridge.ingest.bodies import TEXT_CHARSET_LABELS, TEXT_CHARSETS


def test_the_charsets_taken_are_the_codecs_python_finds_for_the_labels() -> None:
    assert frozenset(codecs.lookup(label).name for label in TEXT_CHARSET_LABELS) == TEXT_CHARSETS


def test_importing_the_body_readers_loads_no_codec_of_the_charsets_not_declared() -> None:
    # The cold start of the ingest and fetch functions: a codec module is loaded only when a body declares it.
    code = (
        "import sys, heymarket_bridge.ingest.bodies; "
        "print(sorted(m for m in sys.modules if m in ('encodings.cp1252', 'encodings.gbk', 'encodings.koi8_r')))"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this checkout's package, as imported here
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)

    assert done.stdout.strip() == "[]"
