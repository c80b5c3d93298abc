"""Keeping bot tokens, webhook secrets and users' data out of every log line.

A :class:`LogGuard` is a :class:`logging.Filter` installed on every *handler* (the root
logger's and any other logger's), because a logger's own filters see only the records
logged to that very logger, not those of its children: ``telegram.request``, ``httpx``,
``telegram.ext`` or a library added later all reach the root handler. The guard

- masks each secret wherever it appears: in the message, its arguments, a traceback
  (also an error page quoted in an exception) and stack information;
- drops python-telegram-bot's DEBUG records, which dump whole updates and API
  parameters (names, phone numbers, message text);
- rewrites the library's "Received data was ..." records (an update it could not parse,
  logged whole at CRITICAL) to the update ids and the error type only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

#: The text that replaces a secret.
MASK = "***"
#: Secrets (and a token's secret part) shorter than this are not searched for: they
#: would match ordinary words. Tokens and accepted webhook secrets are far longer.
_MIN_SECRET_PART = 6


def mask_token(token: str) -> str:
    """``token`` as logs may show it: a bot id before ``:`` kept, the secret part hidden."""
    bot_id, sep, _ = token.partition(":")
    return f"{bot_id}:{MASK}" if sep and bot_id.isdigit() else MASK


def _needles(secret: str) -> list[str]:
    """The forms of ``secret`` to hide, longest first: as is, URL-quoted, its secret part."""
    secret = secret.strip()
    if len(secret) < _MIN_SECRET_PART:  # too short to find without garbling other text
        return []
    forms = {secret, quote(secret, safe=""), quote(secret)}
    bot_id, sep, part = secret.partition(":")
    if sep and bot_id.isdigit() and len(part) >= _MIN_SECRET_PART:
        forms.add(part)
    return sorted(forms, key=len, reverse=True)


def _update_ids(data: Any) -> list[int]:
    """The ``update_id`` values in what Telegram sent (a list of updates or one update)."""
    items = data if isinstance(data, list) else [data]
    return [i["update_id"] for i in items if isinstance(i, dict) and isinstance(i.get("update_id"), int)]


class LogGuard(logging.Filter):
    """Masks ``secrets`` and drops or shortens records that would carry users' data.

    Use :meth:`install` when a channel starts and :meth:`remove` when it stops.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._replacements: list[tuple[str, str]] = []
        for secret in secrets:
            masked = mask_token(secret.strip())
            part = secret.strip().partition(":")[2]
            for needle in _needles(secret):
                # The secret part alone becomes "***"; the whole token (in any form) its masked form.
                self._replacements.append((needle, MASK if needle == part else masked))
        self._replacements.sort(key=lambda pair: len(pair[0]), reverse=True)
        self._handlers: list[logging.Handler] = []

    # -- installing ----------------------------------------------------------------------

    def install(self) -> None:
        """Add the guard to every handler now configured (root logger first)."""
        for handler in _all_handlers():
            if self not in handler.filters:
                handler.addFilter(self)
                self._handlers.append(handler)

    def remove(self) -> None:
        """Take the guard off the handlers :meth:`install` put it on."""
        for handler in self._handlers:
            handler.removeFilter(self)
        self._handlers = []

    # -- filtering -----------------------------------------------------------------------

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for needle, replacement in self._replacements:
            if needle in text:
                text = text.replace(needle, replacement)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram"):
            if record.levelno < logging.INFO:
                return False
            if "Received data was" in str(record.msg):
                _shorten_unreadable_update(record)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its template
            message = str(record.msg)
        masked = self.mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, self.mask(text)
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def _shorten_unreadable_update(record: logging.LogRecord) -> None:
    """An unparseable update's record, rewritten to its update ids and error type."""
    ids: list[int] = []
    for arg in record.args if isinstance(record.args, tuple) else (record.args,):
        ids.extend(_update_ids(arg))
    error = record.exc_info[1] if record.exc_info else None
    record.msg = "Telegram sent an update that cannot be read (update id %s): %s"
    record.args = (", ".join(map(str, ids)) or "unknown", type(error).__name__ if error else "unknown error")
    record.exc_info = None
    record.exc_text = None


def _all_handlers() -> list[logging.Handler]:
    """Every handler attached to a logger: the root's, then the others'."""
    handlers: list[logging.Handler] = list(logging.getLogger().handlers)
    if logging.lastResort is not None and logging.lastResort not in handlers:
        handlers.append(logging.lastResort)  # used when nothing is configured
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(h for h in logger.handlers if h not in handlers)
    return handlers
