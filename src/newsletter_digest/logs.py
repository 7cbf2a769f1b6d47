"""Where `digest run` and `digest serve` log: plain lines, or one JSON object a line.

Every event a log reader acts on carries an ``event`` name and its numbers as fields
(``extra={"event": "send.finished", "issue": 3, "sent": 120}``): the plain format shows the
message, the JSON format (python-json-logger) shows both, for journald, Loki or jq.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

LogFormat = Literal["plain", "json"]
FORMATS: tuple[LogFormat, ...] = ("plain", "json")
ROOT = "newsletter_digest"  # the parent of every logger of ours
DATE = "%Y-%m-%dT%H:%M:%S%z"


def formatter(kind: LogFormat) -> logging.Formatter:
    """The formatter for ``kind``: a timestamped line, or a JSON object."""
    if kind == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS  # only when asked for
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt=DATE,
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI copy
        )
    return logging.Formatter("%(asctime)s %(levelname)s %(message)s", DATE)


@contextmanager
def logging_to(
    kind: LogFormat = "plain", stream: TextIO | None = None, *, names: tuple[str, ...] = (ROOT,)
) -> Iterator[logging.Handler]:
    """Send the INFO and above of the loggers ``names`` to ``stream`` (stderr) in ``kind``
    while the command runs; the handler is removed afterwards (tests run many commands)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(kind))
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
            logger.propagate = True


_TOKEN_PATH = re.compile(r"(/(?:unsubscribe|confirm)/)[^\s/?\"]+")


class AccessLog(logging.Filter):
    """uvicorn's access lines as events (client, method, path, status as fields), with the
    route kept but not the reader's token: a token in a log is a link that unsubscribes
    someone, and logs travel further than the state."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            path = _TOKEN_PATH.sub(r"\1…", str(path))
            record.args = (client, method, path, version, status)
            record.__dict__.update(
                event="http.request", client=client, method=method, path=path, status=status
            )
        return True
