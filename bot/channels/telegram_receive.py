"""Receiving Telegram updates safely: unreadable updates skipped, the webhook guarded.

python-telegram-bot fails a whole ``getUpdates`` batch on one update it cannot parse,
logs the raw data (names, phone numbers, text) at CRITICAL and fetches the same batch
again, forever. :class:`SafeBot` replaces such an update by a bare one with the same
``update_id`` (no handler answers it, and polling moves past it), logging only the id
and the error type. The library's webhook server reads bodies of up to 100 MB before it
checks the secret; :func:`webhook_handler` feeds updates from our own
:class:`bot.channels.webhook.WebhookServer` to the Application instead.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, ExtBot

from bot.channels.webhook import UpdateHandler

log = logging.getLogger(__name__)

#: The header Telegram sends the webhook secret in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def readable_update(data: Any, bot: ExtBot) -> dict[str, Any] | None:
    """``data`` if it parses as an update; a bare ``{"update_id": n}`` if it has an id
    but does not parse; None when it has no usable id at all."""
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        log.warning("Telegram sent an update without an update id; skipped")
        return None
    try:
        Update.de_json(data, bot)
    except Exception as exc:
        log.warning("Telegram update %d cannot be read (%s); skipped", update_id, type(exc).__name__)
        return {"update_id": update_id}
    return data


class SafeBot(ExtBot):
    """The Application's bot, with unreadable updates in ``getUpdates`` skipped."""

    async def _post(self, endpoint: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            kept = (readable_update(item, self) for item in result)
            result = [item for item in kept if item is not None]
        return result


def webhook_handler(application: Application) -> UpdateHandler:
    """What the webhook server does with a checked JSON body: queue it for the
    Application (200), or refuse what is not an update (400)."""

    async def handle(data: Any) -> int:
        readable = readable_update(data, application.bot)
        if readable is None:
            return 400
        await application.update_queue.put(Update.de_json(readable, application.bot))
        return 200

    return handle
