"""The console channel: chat with the bot in a terminal (``motcua chat``)."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from bot.channels.render import numbered_choices
from bot.dialogue import Engine
from bot.messages import Incoming, Reply
from bot.dossiers.notify import Notifier

CHANNEL = "console"
_QUIT = {"thoat", "thoát", "exit", "quit", "q", ":q"}
GOODBYE = "Tạm biệt! Khi cần, cứ mở lại và hỏi tiếp nhé."


async def _readline(stdin: TextIO) -> str:
    """One line of ``stdin`` ("" at EOF), read in a daemon thread: on Ctrl+C the chat
    ends at once, while a worker thread of asyncio's own pool would keep the process
    waiting for the line being read."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(line or "")

    def read() -> None:
        try:
            line = stdin.readline()
        except BaseException as exc:  # handed to the waiting coroutine
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, line, None)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return await done


async def chat(
    engine: Engine,
    notifier: Notifier | None = None,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    user_id: str = "console",
) -> None:
    """Read questions line by line and print the bot's replies, until EOF, "thoát" or
    Ctrl+C (each ends with a goodbye line)."""

    def show(text: str) -> None:
        stdout.write(text + "\n\n")
        stdout.flush()

    async def deliver(chat_id: str, reply: Reply) -> None:
        show("[Thông báo] " + numbered_choices(reply))

    show(
        "motcua-bot: gõ câu hỏi rồi nhấn Enter (ví dụ «làm giấy khai sinh cần gì»); "
        "gõ số để chọn; gõ «thoát» để kết thúc."
    )
    try:
        while True:
            stdout.write("Bạn: ")
            stdout.flush()
            line = await _readline(stdin)
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
    except asyncio.CancelledError:  # Ctrl+C
        stdout.write("\n")
        show(GOODBYE)
        raise
    show(GOODBYE)
