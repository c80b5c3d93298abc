"""Turning Telegram messages and button presses into :class:`bot.messages.Incoming`.

Pure functions over python-telegram-bot objects: what a message says to the engine,
and whether the bot is being spoken to at all (in groups it answers only commands,
mentions of itself and replies to its own messages).
"""

from __future__ import annotations

import re

from telegram import CallbackQuery, Chat, Message, MessageEntity

from bot.messages import Incoming

CHANNEL = "telegram"

#: The commands the engine understands, with their descriptions for Telegram's menu.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Bắt đầu và giới thiệu"),
    ("help", "Hướng dẫn sử dụng"),
    ("thutuc", "Xem thủ tục theo lĩnh vực"),
    ("tracuu", "Tra cứu hồ sơ: /tracuu <mã hồ sơ>"),
    ("theodoi", "Báo tin khi hồ sơ có kết quả: /theodoi <mã hồ sơ>"),
    ("huytheodoi", "Thôi theo dõi hồ sơ: /huytheodoi <mã hồ sơ>"),
    ("thon", "Tổng hợp hồ sơ của thôn (dành cho trưởng thôn)"),
    ("canbo", "Gặp cán bộ Bộ phận Một cửa"),
)
_KNOWN = frozenset(name for name, _ in COMMANDS)
_GROUPS = (Chat.GROUP, Chat.SUPERGROUP)


def message_to_incoming(message: Message, bot_id: int, bot_username: str) -> Incoming | None:
    """The :class:`Incoming` for a new message, or None when the bot should stay silent.

    In private chats every message is for the bot. In groups only our commands (bare or
    ``/cmd@bot``), messages mentioning ``@bot`` and replies to the bot's own messages are.
    The mention is removed from the text passed on; a message without text (a sticker,
    a voice note) is passed as empty text, its caption if it has one.
    """
    text = message.text if message.text is not None else (message.caption or "")
    command = _command(message)
    if command is not None:
        name, _, addressee = command.partition("@")
        if addressee and addressee.lower() != bot_username.lower():
            return None  # a command for another bot in the same group
        if message.chat.type in _GROUPS and not addressee and name.lower() not in _KNOWN:
            return None
    elif message.chat.type in _GROUPS:
        if not (_mentions(message, bot_username) or _replies_to(message, bot_id)):
            return None
    text = strip_mention(text, bot_username)
    sender = message.from_user.id if message.from_user else message.chat.id
    return Incoming(
        channel=CHANNEL,
        user_id=str(sender),
        chat_id=str(message.chat.id),
        text=text,
        forwarded=message.forward_origin is not None,
    )


def callback_to_incoming(query: CallbackQuery) -> Incoming | None:
    """The :class:`Incoming` for a button press: the button's label as text, its data as choice.

    None when the press carries no data or its chat is unknown (nothing to answer into).
    """
    if not query.data or query.message is None:
        return None
    return Incoming(
        channel=CHANNEL,
        user_id=str(query.from_user.id),
        chat_id=str(query.message.chat.id),
        text=_button_label(query) or query.data,
        choice=query.data,
    )


def strip_mention(text: str, bot_username: str) -> str:
    """``text`` without ``@bot_username`` (also in ``/cmd@bot``), whitespace tidied."""
    pattern = re.compile(rf"@{re.escape(bot_username)}(?![A-Za-z0-9_])", re.IGNORECASE)
    stripped = pattern.sub(" ", text)
    lines = [" ".join(line.split()) for line in stripped.split("\n")]
    return "\n".join(lines).strip()


def _command(message: Message) -> str | None:
    """The command word (``tracuu`` or ``tracuu@bot``) when the message starts with one."""
    if not message.entities or message.text is None:
        return None
    first = message.entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    return message.parse_entity(first)[1:]


def _mentions(message: Message, bot_username: str) -> bool:
    wanted = f"@{bot_username}".lower()
    entities = message.parse_entities([MessageEntity.MENTION]) if message.text else {}
    if not entities and message.caption:
        entities = message.parse_caption_entities([MessageEntity.MENTION])
    return any(text.lower() == wanted for text in entities.values())


def _replies_to(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot_id


def _button_label(query: CallbackQuery) -> str | None:
    """The text of the pressed button, found in the message's keyboard."""
    message = query.message
    markup = getattr(message, "reply_markup", None)  # absent on inaccessible (old) messages
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return button.text
    return None
