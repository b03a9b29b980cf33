"""Credentials never printed: one function masks the password of every URL in a text.

Every log line (`RedactingFormatter`, installed by the command line), every error the
command line prints and `edgewatch config check`'s output go through `redact`. It works on
text, not on parsed URLs, so a URL too broken to parse (port 99999) is masked too.
"""

from __future__ import annotations

import logging
import re

# scheme://user:password@  ->  scheme://user:***@   (the user name stays: it helps)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):([^/\s@]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL in it
    replaced by ``***``."""
    return _URL_CREDENTIALS.sub(r"\1:***@", text)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks credentials: in the message, its arguments and any
    traceback (an FFmpeg error quoting the camera URL, say)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
