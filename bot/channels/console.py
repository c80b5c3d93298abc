"""The console channel: chat with the bot in a terminal (``motcua chat``)."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.channels.render import numbered_choices
from bot.dialogue import Engine
from bot.messages import Incoming, Reply
from bot.dossiers.notify import Notifier

CHANNEL = "console"
_QUIT = {"thoat", "thoát", "exit", "quit", "q", ":q"}


async def chat(
    engine: Engine,
    notifier: Notifier | None = None,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    user_id: str = "console",
) -> None:
    """Read questions line by line and print the bot's replies, until EOF or "thoát"."""

    def show(text: str) -> None:
        stdout.write(text + "\n\n")
        stdout.flush()

    async def deliver(chat_id: str, reply: Reply) -> None:
        show("[Thông báo] " + numbered_choices(reply))

    show(
        "motcua-bot: gõ câu hỏi rồi nhấn Enter (ví dụ «làm giấy khai sinh cần gì»); "
        "gõ số để chọn; gõ «thoát» để kết thúc."
    )
    while True:
        stdout.write("Bạn: ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            stdout.write("\n")
            break
        text = line.strip()
        if text.lower() in _QUIT:
            break
        response = await engine.handle(Incoming(CHANNEL, user_id, user_id, text))
        for reply in response.replies:
            show("Bot: " + numbered_choices(reply))
        if notifier is not None:
            await notifier.deliver_pending(CHANNEL, deliver)
