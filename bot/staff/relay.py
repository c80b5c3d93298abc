"""Between residents and the desk's staff: hand-overs asked, posted, answered, delivered.

:class:`HandoverRelay` is what the engine calls when a resident asks for a person
(:meth:`request`) or writes while a hand-over is open (:meth:`note`), what the Telegram
channel calls with a message of the staff group (:meth:`staff_message`), and the two
outboxes the channels deliver (:attr:`replies`: the desk's replies to residents, on their
own channel; :attr:`posts`: the bot's posts to the staff group). Both outboxes use
:class:`bot.delivery.Deliverer`: each row is claimed as a lease, so a reply reaches the
resident once, also when the bot is killed between the claim and the send.

The staff group sees what the resident wrote (they are the desk) and a case number
("#12"), never the resident's user id or phone number unless the resident wrote it.
Nothing else is sent anywhere.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.delivery import Deliverer
from bot.messages import Incoming, Reply
from bot.staff.handovers import HandoverStore, QueuedPost, QueuedReply
from bot.staff.hours import OfficeHours, vietnam_now

log = logging.getLogger(__name__)

#: Commands that close a hand-over from the staff group (as a reply to its post, or
#: followed by its number: "/dong 12").
CLOSE_COMMANDS = frozenset({"dong", "close", "đóng"})
#: How much of each earlier turn the staff group is shown.
TURN_CHARS = 200
#: The channels a reply can be delivered on (the console and ``motcua ask`` cannot).
_CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo"}
_COMMAND = re.compile(r"^/(\w+)(?:@\w+)?\s*#?(\d+)?\s*$", re.UNICODE)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Replies:
    """The desk's replies to residents, as a :class:`bot.delivery.Queue`."""

    def __init__(self, relay: HandoverRelay) -> None:
        self._relay = relay
        self._store = relay.store

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[QueuedReply]:
        return await self._store.due_replies(channel, now, limit, stale_before)

    async def claim(self, item: QueuedReply, now: float, stale_before: float) -> bool:
        return await self._store.replies.claim(item.id, now, stale_before)

    def render(self, item: QueuedReply) -> Reply:
        return Reply(f"💬 Cán bộ Bộ phận Một cửa trả lời (yêu cầu #{item.handover_id}):\n{item.text}")

    async def sent(self, item: QueuedReply, receipt: Any) -> None:
        await self._store.replies.sent(item.id)
        await self._relay.post(item.handover_id, f"✅ Đã gửi cho người dân trả lời #{item.handover_id} của {item.staff}.")

    async def retry(self, item: QueuedReply, next_at: float, error: str) -> None:
        await self._store.replies.retry(item.id, next_at, error)

    async def failed(self, item: QueuedReply, error: str) -> None:
        await self._store.replies.failed(item.id, error)
        await self._relay.post(
            item.handover_id,
            f"⚠️ Không gửi được trả lời #{item.handover_id} cho người dân sau nhiều lần thử. "
            "Vui lòng liên hệ người dân bằng cách khác.",
        )

    async def blocked(self, channel: str, item: QueuedReply) -> None:
        await self._store.drop_replies(channel, item.user_id)
        await self._relay.post(
            item.handover_id, f"⚠️ Không gửi được trả lời #{item.handover_id}: người dân đã chặn trợ lý."
        )


class _Posts:
    """The bot's posts to the staff group, as a :class:`bot.delivery.Queue`."""

    def __init__(self, relay: HandoverRelay) -> None:
        self._store = relay.store

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[QueuedPost]:
        return await self._store.due_posts(channel, now, limit, stale_before)

    async def claim(self, item: QueuedPost, now: float, stale_before: float) -> bool:
        return await self._store.posts.claim(item.id, now, stale_before)

    def render(self, item: QueuedPost) -> Reply:
        return Reply(item.text)

    async def sent(self, item: QueuedPost, receipt: Any) -> None:
        if receipt:  # the group's message ids: a reply to any of them answers the hand-over
            await self._store.record_posted(item.chat_id, [str(m) for m in receipt], item.handover_id)
        await self._store.posts.sent(item.id)

    async def retry(self, item: QueuedPost, next_at: float, error: str) -> None:
        await self._store.posts.retry(item.id, next_at, error)

    async def failed(self, item: QueuedPost, error: str) -> None:
        await self._store.posts.failed(item.id, error)

    async def blocked(self, channel: str, item: QueuedPost) -> None:
        await self._store.posts.failed(item.id, "the bot cannot post in the staff group", state="dropped")
        log.error("handover: the bot cannot post in the staff group (is it still a member?)")


class HandoverRelay:
    """Hand-overs between the engine, the staff group and the channels' delivery loops.

    ``clock`` gives the current moment (Vietnam time) for the office-hours wording;
    ``delivery`` is passed to both :class:`bot.delivery.Deliverer` (lease, clock, ...).
    """

    def __init__(
        self,
        store: HandoverStore,
        config: Config,
        *,
        clock: Callable[[], datetime] = vietnam_now,
        staff_chats: Sequence[str] = (),
        **delivery: Any,
    ) -> None:
        self.store = store
        self._commune = config.commune
        self._hours = OfficeHours.from_config(config.office_hours)
        self._clock = clock
        #: The staff group's chat id ("" when hand-overs go to the web inbox only).
        self.staff_chat = config.handover.telegram_chat_id
        #: Every staff group this relay answers for (several communes' groups on one bot).
        self._chats = {c for c in (self.staff_chat, *staff_chats) if c}
        self.replies = Deliverer(_Replies(self), what="hand-over reply", **delivery)
        self.posts = Deliverer(_Posts(self), what="staff post", **delivery)

    async def post(self, handover_id: int, text: str) -> None:
        """Queue ``text`` for the staff group the hand-over went to (its commune's, with
        several communes), else this relay's (nothing when none is configured)."""
        chat = await self.store.group_of(handover_id) or self.staff_chat
        if chat:
            await self.store.queue_post(handover_id, chat, text)

    # -- the engine's side (bot.dialogue.HandoverService) -----------------------------

    async def request(self, msg: Incoming, earlier: Sequence[tuple[str, str]]) -> Reply:
        """A resident asks for a person: open their hand-over (or add to the open one),
        tell the staff group, and say what happens next."""
        if msg.channel not in _CHANNEL_NAMES:
            return Reply(
                "(Thử trong cửa sổ dòng lệnh) Trên Telegram hoặc Zalo, yêu cầu này được chuyển đến cán bộ "
                f"Bộ phận Một cửa, và cán bộ trả lời ngay trong cuộc trò chuyện. Điện thoại: {self._commune.hotline}."
            )
        text = "" if msg.choice is not None else msg.text.strip()
        number, opened = await self.store.ask(msg.channel, msg.user_id, msg.chat_id, text, earlier)
        where = _CHANNEL_NAMES.get(msg.channel, msg.channel)
        if opened:
            lines = [f"🔔 Yêu cầu #{number} ({where}): người dân cần gặp cán bộ."]
            if earlier:
                lines.append("Trước đó:")
                icons = {"resident": "👤", "bot": "🤖"}
                lines += [f"{icons.get(who, '•')} {_short(said, TURN_CHARS)}" for who, said in earlier]
            if text:
                lines.append(f"Người dân viết: «{text}»")
            lines.append("↩️ Trả lời (Reply) tin nhắn này để gửi câu trả lời cho người dân; trả lời /dong để đóng yêu cầu.")
            await self.post(number, "\n".join(lines))
        elif text:
            await self.post(number, self._more(number, where, text))
        else:
            await self.post(number, f"🔔 #{number} ({where}): người dân lại bấm «Gặp cán bộ», vẫn đang chờ trả lời.")
        lines = [
            f"Tôi đã chuyển câu hỏi của ông/bà đến cán bộ Bộ phận Một cửa (yêu cầu #{number})."
            if opened
            else f"Yêu cầu #{number} của ông/bà đã được chuyển đến cán bộ Bộ phận Một cửa.",
            "Cán bộ sẽ trả lời ngay trong cuộc trò chuyện này. Ông/bà có thể nhắn thêm, "
            "tin nhắn sẽ được chuyển tiếp cho cán bộ.",
        ]
        later = self._hours.answer_expected(self._clock())
        if later:
            lines.append(later)
        lines.append(f"Cần gấp, ông/bà gọi {self._commune.hotline}.")
        return Reply("\n".join(lines))

    async def note(self, msg: Incoming) -> Reply | None:
        """What a resident wrote while their hand-over is open goes to it (and the staff
        group); the reply to give when the bot has no answer of its own, or None when
        they have no open hand-over."""
        if msg.channel not in _CHANNEL_NAMES or not msg.text.strip():
            return None
        if await self.store.open_for(msg.channel, msg.user_id) is None:
            return None
        number = await self.store.add_message(msg.channel, msg.user_id, msg.text.strip())
        if number is None:
            return None
        await self.post(number, self._more(number, _CHANNEL_NAMES.get(msg.channel, msg.channel), msg.text.strip()))
        return Reply(
            f"Tôi đã chuyển tin nhắn này đến cán bộ Bộ phận Một cửa (yêu cầu #{number}); "
            "cán bộ sẽ trả lời tại đây."
        )

    @staticmethod
    def _more(number: int, where: str, text: str) -> str:
        return f"✉️ #{number} ({where}): người dân viết thêm:\n«{text}»\n↩️ Trả lời tin nhắn này để trả lời người dân."

    # -- the staff group's side --------------------------------------------------------

    @property
    def staff_chats(self) -> list[str]:
        """Every staff group this relay answers for, sorted (the posts' outboxes)."""
        return sorted(self._chats)

    def is_staff_chat(self, chat_id: str) -> bool:
        """Whether ``chat_id`` is the staff group (its messages are never questions)."""
        return chat_id in self._chats

    async def staff_message(
        self, replied_to: str | None, staff: str, text: str, chat: str | None = None
    ) -> str | None:
        """A message in the staff group: a reply to one of the bot's posts answers (or,
        with /dong, closes) that hand-over; "/dong 12" closes #12. Returns what to say
        in the group, or None to stay silent (staff talking among themselves). ``chat``:
        the group it was written in (default: this relay's own)."""
        text = text.strip()
        command = _COMMAND.match(text)
        number = await self.store.handover_for_post(chat or self.staff_chat, replied_to) if replied_to else None
        if command and command.group(1).lower() in CLOSE_COMMANDS:
            target = int(command.group(2)) if command.group(2) else number
            if target is None:
                return "Để đóng một yêu cầu: trả lời (Reply) tin nhắn của yêu cầu đó bằng /dong, hoặc gửi /dong <số>."
            if number is None and len(self._chats) > 1 and not await self.store.posted_to(target, chat or self.staff_chat):
                # several communes' groups: a group closes by number only what was posted to it
                return f"Không có yêu cầu #{target} nào đang mở."
            if await self.store.close_handover(target, staff):
                return f"Đã đóng yêu cầu #{target} (không gửi thêm gì cho người dân)."
            return f"Không có yêu cầu #{target} nào đang mở."
        if replied_to is None and not text.startswith("/"):
            return None
        if number is None or text.startswith("/"):
            return (
                "Đây là nhóm cán bộ nhận yêu cầu của người dân. Để trả lời: trả lời (Reply) tin nhắn "
                "yêu cầu của trợ lý; để đóng yêu cầu không trả lời: trả lời bằng /dong."
            )
        if not text:
            return "Chỉ gửi được tin nhắn chữ cho người dân."
        if await self.store.reply(number, staff, text, now=time.time()):
            return None  # confirmed in the group once delivered
        return f"Yêu cầu #{number} đã đóng, không gửi được nữa. Người dân nhắn lại sẽ mở yêu cầu mới."
