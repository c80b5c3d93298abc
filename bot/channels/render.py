"""Rendering helpers shared by channels: splitting long text, numbered choices."""

from __future__ import annotations

from bot.messages import Reply
from bot.procedures.wording import RATE_PROMPT


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, at line boundaries
    where possible (then at spaces, then anywhere)."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single over-long line: cut at a space if we can
            cut = line.rfind(" ", 0, limit + 1)
            cut = cut if cut > 0 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = line
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [text[:limit]]


def numbered_choices(reply: Reply) -> str:
    """The reply's text with its choices appended as a numbered list, for channels
    without buttons (Zalo, console). The engine maps a typed number back to the choice.
    A reply that can be rated ends with the line asking for "0" when it was wrong."""
    if reply.rate:
        rated = numbered_choices(Reply(reply.text, reply.choices))
        return f"{rated}\n\n{RATE_PROMPT}"
    if not reply.choices:
        return reply.text
    n = len(reply.choices)
    numbers = "1" if n == 1 else ", ".join(str(i) for i in range(1, n)) + f" hoặc {n}"
    # The prompt goes first, so that the options are not read as more of a numbered
    # list in the text above (documents are numbered too).
    lines = [reply.text, "", f"Trả lời {numbers} để chọn:"]
    lines += [f"{i}. {c.label}" for i, c in enumerate(reply.choices, 1)]
    return "\n".join(lines)
