"""The words the bot says about procedures: plain text, short enough for a phone.

Everything a reply states about a procedure comes from its catalogue file; where the
file lacks a fact (a fee the commune has not posted), the reply says so instead of
guessing. Commune details (office, hours, hotline) come from the config.
"""

from __future__ import annotations

import re

from bot.procedures.catalogue import Catalogue, Family, Group, Procedure
from bot.procedures.normalize import fold
from bot.config import CommuneConfig
from bot.messages import Aspect, Choice, Reply

ASPECT_LABELS: dict[Aspect, str] = {
    Aspect.DOCUMENTS: "Giấy tờ",
    Aspect.FEE: "Lệ phí",
    Aspect.TIME: "Thời hạn",
    Aspect.WHERE: "Nơi nộp",
    Aspect.FORMS: "Mẫu đơn",
    Aspect.CONDITIONS: "Điều kiện",
}

#: Longest overview (an answer with no aspect asked), in characters: about one phone screen.
OVERVIEW_CHARS = 600

#: Most choices under one reply (a phone shows about this many buttons or lines at once),
#: and most variants of a family offered beside its common case.
MAX_CHOICES = 8
MAX_VARIANTS = 3
#: Procedures listed per page when browsing a group.
PAGE_SIZE = 8

#: Extra parts of a procedure offered as choices: rare cases, the steps, the notes.
EXTRA_LABELS = {"special": "Trường hợp đặc biệt", "steps": "Các bước", "notes": "Lưu ý"}

# A document item that applies only in some situations opens with one of these (folded
# to plain letters), or reads "Situation: what to bring".
_SPECIAL_OPENERS = ("truong hop", "neu ", "nho ", "khong co", "nop qua", "nop truc tuyen", "doi voi", "rieng ")
_SITUATION = re.compile(r"^[^:;.]{3,60}:\s")


def is_special_case(item: str) -> bool:
    """Whether a document item applies only in some situations ("Trẻ bị bỏ rơi: ...")."""
    folded = fold(item)
    return folded.startswith(_SPECIAL_OPENERS) or bool(_SITUATION.match(item))


def split_documents(proc: Procedure) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A procedure's documents as (what everyone brings, what only some cases need)."""
    special = tuple(d for d in proc.documents if is_special_case(d))
    common = tuple(d for d in proc.documents if not is_special_case(d))
    return (common, special) if common else (proc.documents, ())


def _first_sentence(text: str) -> str:
    """The text up to its first full stop or semicolon outside brackets, marked as cut."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch in ".;" and depth == 0 and text[i + 1 : i + 2] == " ":
            return text[:i] + " …"
    return text


#: Choice data understood by the engine (kept short: Telegram allows 64 bytes).
CHOICE_MENU = "menu"
CHOICE_STATUS_HELP = "status"
#: Asks for a person of the desk (a hand-over), offered when the bot cannot answer.
CHOICE_HANDOVER = "handover"
HANDOVER_CHOICE = Choice("Gặp cán bộ một cửa", CHOICE_HANDOVER)


#: Choices the bot offers in many replies; typed back at any time, they do what they say.
STANDING_CHOICES = (Choice("Danh sách thủ tục", CHOICE_MENU), Choice("Tra cứu hồ sơ", CHOICE_STATUS_HELP))


def choice_procedure(proc_id: str) -> str:
    """Choice data that opens a procedure."""
    return f"p:{proc_id}"


#: The line under a rateable answer on channels without buttons (Zalo, console).
RATE_PROMPT = "Trả lời 0 nếu câu trả lời chưa đúng."
#: Choice data of a rating: ``rate:up:<id>`` / ``rate:down:<id>``.
CHOICE_RATE = "rate"


def choice_rate(proc_id: str, up: bool) -> str:
    """Choice data that rates an answer about a procedure (👍 when ``up``, else 👎)."""
    return f"{CHOICE_RATE}:{'up' if up else 'down'}:{proc_id}"


def choice_aspect(proc_id: str, aspect: Aspect) -> str:
    """Choice data that shows one aspect of a procedure."""
    return f"a:{proc_id}:{aspect.value}"


def choice_extra(proc_id: str, part: str) -> str:
    """Choice data that shows one extra part of a procedure (see :data:`EXTRA_LABELS`)."""
    return f"x:{proc_id}:{part}"


def choice_field(index: int, page: int = 0) -> str:
    """Choice data that lists the procedures of the ``index``-th group, one page of them."""
    return f"f:{index}:{page}" if page else f"f:{index}"


def _label(text: str, limit: int = 60) -> str:
    """``text`` shortened to fit a button."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def numbered(items: tuple[str, ...] | list[str]) -> str:
    """Items as a numbered list, one per line."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


class ReplyWriter:
    """Writes the bot's replies for one commune."""

    def __init__(self, commune: CommuneConfig) -> None:
        self.commune = commune

    def _ask_desk(self) -> str:
        return f"Ông/bà vui lòng hỏi Bộ phận Một cửa (điện thoại {self.commune.hotline})."

    def aspect_text(self, proc: Procedure, aspect: Aspect) -> str:
        """The part of ``proc`` that ``aspect`` asks about."""
        if aspect is Aspect.DOCUMENTS:
            if not proc.documents:
                return "Giấy tờ: danh mục của xã chưa ghi giấy tờ cho việc này. " + self._ask_desk()
            common, special = split_documents(proc)
            text = "Giấy tờ cần chuẩn bị:\n" + numbered(common)
            if proc.looked_up:
                text += "\nKhông phải mang (cán bộ tự tra cứu): " + "; ".join(proc.looked_up)
            if special:
                text += f"\n(Có {len(special)} giấy tờ cho trường hợp đặc biệt: chọn «{EXTRA_LABELS['special']}».)"
            return text
        if aspect is Aspect.FEE:
            if not proc.fee:
                return "Lệ phí: xã chưa niêm yết lệ phí cho thủ tục này. " + self._ask_desk()
            return f"Lệ phí: {proc.fee}"
        if aspect is Aspect.TIME:
            if not proc.time:
                return "Thời hạn: danh mục của xã chưa ghi thời hạn cho việc này. " + self._ask_desk()
            return f"Thời hạn giải quyết: {proc.time}"
        if aspect is Aspect.WHERE:
            lines = [f"Nơi nộp: {proc.where}"]
            if not proc.is_referral:
                lines.append(f"Địa chỉ: {self.commune.office}")
                lines.append(f"Giờ làm việc: {self.commune.hours}")
            return "\n".join(lines)
        if aspect is Aspect.CONDITIONS:
            return self._conditions_text(proc)
        if not proc.forms:
            return "Mẫu đơn: danh mục của xã không ghi mẫu riêng cho thủ tục này. " + self._ask_desk()
        return "Mẫu đơn, tờ khai:\n" + numbered(proc.forms)

    def _conditions_text(self, proc: Procedure) -> str:
        lines = []
        if proc.conditions:
            lines.append("Ai được làm, điều kiện:\n" + numbered(proc.conditions))
        if proc.online:
            lines.append(f"Nộp trực tuyến: {proc.online}")
        if not lines:
            return "Điều kiện: danh mục của xã chưa ghi điều kiện riêng cho việc này. " + self._ask_desk()
        return "\n".join(lines)

    def aspect_choices(self, proc: Procedure, shown: list[Aspect]) -> tuple[Choice, ...]:
        """Buttons for the aspects of ``proc`` not shown yet, then for its rare cases
        (when its documents were shown), steps and notes."""
        choices = [
            Choice(label, choice_aspect(proc.id, aspect))
            for aspect, label in ASPECT_LABELS.items()
            if aspect not in shown
            and (aspect is not Aspect.CONDITIONS or proc.conditions or proc.online)
        ]
        if Aspect.DOCUMENTS in shown and split_documents(proc)[1]:
            choices.insert(0, Choice(EXTRA_LABELS["special"], choice_extra(proc.id, "special")))
        if proc.steps:
            choices.append(Choice(EXTRA_LABELS["steps"], choice_extra(proc.id, "steps")))
        if proc.notes:
            choices.append(Choice(EXTRA_LABELS["notes"], choice_extra(proc.id, "notes")))
        return tuple(choices)

    def extra(self, proc: Procedure, part: str) -> Reply | None:
        """One extra part of ``proc``: its rare cases, its steps or its notes (None if unknown)."""
        if part == "special":
            items = split_documents(proc)[1]
            head = "Giấy tờ cho trường hợp đặc biệt:"
        elif part == "steps":
            items, head = proc.steps, "Các bước thực hiện:"
        elif part == "notes":
            items, head = proc.notes, "Lưu ý:"
        else:
            return None
        if not items:
            return Reply(f"{proc.title}: danh mục của xã không ghi thêm phần này.", self.aspect_choices(proc, []))
        shown = [Aspect.DOCUMENTS] if part == "special" else []
        choices = tuple(c for c in self.aspect_choices(proc, shown) if c.data != choice_extra(proc.id, part))
        return Reply(f"{proc.title}\n\n{head}\n{numbered(items)}", choices)

    def yes_no(self, proc: Procedure, aspect: Aspect) -> str | None:
        """The short yes or no that a yes/no question about ``aspect`` gets first, when the
        file tells it plainly ("có mất phí không?", "làm ở xã được không?"); else None."""
        if aspect is Aspect.FEE and proc.fee:
            head = fold(proc.fee)
            if head.startswith(("mien", "khong thu", "khong mat")):
                return "Không mất lệ phí."
            if re.match(r"^\d[\d ]* (dong|d)\b", head):  # folded: "2 000 dong trang"
                return "Có, phải nộp lệ phí."
        if aspect is Aspect.WHERE:
            return "Không, việc này không làm ở xã." if proc.is_referral else "Có, nộp tại Bộ phận Một cửa của xã."
        return None

    def procedure(self, proc: Procedure, aspects: list[Aspect], yes_no: bool = False) -> Reply:
        """The answer about ``proc``: the asked aspects first, or an overview."""
        if aspects:
            parts = [proc.title, *(self.aspect_text(proc, a) for a in aspects)]
            answer = self.yes_no(proc, aspects[0]) if yes_no else None
            if answer:
                parts[0] = f"{proc.title}: {answer}"
            return Reply("\n\n".join(parts), self.aspect_choices(proc, aspects))
        text, shown = self._overview(proc)
        return Reply(text, self.aspect_choices(proc, shown))

    def _overview(self, proc: Procedure) -> tuple[str, list[Aspect]]:
        """Title, common documents, time and fee in at most about :data:`OVERVIEW_CHARS`,
        shortened step by step; and the aspects it shows in full."""
        time_fee = [self.aspect_text(proc, a).split("\n")[0] for a in (Aspect.TIME, Aspect.FEE)]
        facts = "\n".join(time_fee)
        short_facts = "\n".join(_first_sentence(line) for line in time_fee)
        docs = self.aspect_text(proc, Aspect.DOCUMENTS)
        common = split_documents(proc)[0]
        kept: list[str] = []
        for item in common:  # the first documents that fit about a third of the screen
            if kept and sum(len(k) + 4 for k in kept) + len(item) > OVERVIEW_CHARS // 3:
                break
            kept.append(item)
        more = len(proc.documents) - len(kept)
        few = "Giấy tờ chính:\n" + numbered(kept) + (f"\n(Còn {more} giấy tờ khác: chọn «Giấy tờ».)" if more else "")
        head = f"{proc.title}\n{proc.summary}" if proc.summary else proc.title
        every = [Aspect.DOCUMENTS, Aspect.TIME, Aspect.FEE]
        steps = [
            (head, docs, facts, every),
            (proc.title, docs, facts, every),
            (proc.title, few, facts, [Aspect.TIME, Aspect.FEE]),
            (proc.title, few, short_facts, []),
        ]
        for title, documents, lines, shown in steps:
            text = f"{title}\n\n{documents}\n\n{lines}"
            if len(text) <= OVERVIEW_CHARS:
                break
        return text, shown

    def with_variants(self, reply: Reply, family: Family, catalogue: Catalogue) -> Reply:
        """``reply`` about a family's common case, with the question that tells the other
        variants apart and a choice for each of them."""
        others = [m for m in family.others if catalogue.get(m.id) is not None][:MAX_VARIANTS]
        if not others:
            return reply
        text = f"{reply.text}\n\n❓ {family.question}\nNếu là trường hợp khác, ông/bà chọn bên dưới."
        choices = tuple(Choice(_label(m.when), choice_procedure(m.id)) for m in others)
        return Reply(text, (choices + reply.choices)[:MAX_CHOICES])

    def brief(self, proc: Procedure, aspects: list[Aspect]) -> str:
        """A few lines about ``proc``, for a message that asks about several procedures."""
        if aspects:
            return "\n".join([f"• {proc.title}", *(self.aspect_text(proc, a) for a in aspects)])
        lines = [f"• {proc.title}"]
        if proc.documents:
            lines.append(f"Giấy tờ chính: {proc.documents[0]}")
        lines.append(self.aspect_text(proc, Aspect.TIME).split("\n")[0])
        lines.append(self.aspect_text(proc, Aspect.FEE).split("\n")[0])
        return "\n".join(lines)

    def bundle(self, sections: list[str], choices: list[Choice], skipped: int) -> Reply:
        """One forwardable reply answering each question of a message, in order."""
        head = f"Tin nhắn có {len(sections) + skipped} câu hỏi, xin trả lời từng câu:"
        tail = (
            [f"Còn {skipped} câu nữa chưa trả lời: ông/bà gửi riêng từng câu giúp."] if skipped else []
        )
        return Reply("\n\n".join([head, *sections, *tail]), tuple(choices))

    def part_not_understood(self) -> str:
        """The line for one question of a bundle that matched nothing."""
        return "Chưa rõ câu này hỏi thủ tục nào; ông/bà gửi riêng câu này, nói rõ hơn giúp."

    def part_choose(self, procs: list[Procedure]) -> str:
        """The line for one question of a bundle that could be one of several procedures."""
        return "Có thể là: " + "; ".join(p.title for p in procs) + " (chọn bên dưới để xem)."

    def part_referral(self, proc: Procedure) -> str:
        """The line for one question of a bundle about something done elsewhere."""
        return f"• {proc.title}: không giải quyết tại Bộ phận Một cửa của xã. Nơi làm: {proc.where}"

    def several(self, procs: list[Procedure], aspects: list[Aspect]) -> Reply:
        """One reply covering each procedure a message asks about."""
        head = f"Câu hỏi có {len(procs)} việc, xin trả lời ngắn từng việc:"
        body = "\n\n".join(self.brief(p, aspects) for p in procs)
        choices = tuple(Choice(_label(f"Chi tiết: {p.title}"), choice_procedure(p.id)) for p in procs)
        return Reply(f"{head}\n\n{body}", choices)

    def referral(self, proc: Procedure) -> Reply:
        """Where to go for something the desk does not handle."""
        parts = [
            f"{proc.title}: việc này không giải quyết tại Bộ phận Một cửa của xã.",
            f"Nơi làm: {proc.where}",
        ]
        if proc.documents:
            parts.append("Mang theo:\n" + numbered(proc.documents))
        if proc.notes:
            parts.append(f"Lưu ý: {proc.notes[0]}")
        return Reply("\n\n".join(parts))

    def choose(self, procs: list[Procedure]) -> Reply:
        """Ask which of several close procedures the user means."""
        return Reply(
            "Ông/bà muốn hỏi thủ tục nào?",
            tuple(Choice(_label(p.title), choice_procedure(p.id)) for p in procs),
        )

    def confirm(self, procs: list[Procedure]) -> Reply:
        """Ask whether the user means the procedure (or one of the few) a question seems
        to describe, with the procedures list as a way out."""
        if len(procs) == 1:
            text = f"Có phải ông/bà hỏi về thủ tục «{procs[0].title}»?"
        else:
            text = "Có phải ông/bà hỏi về một trong các thủ tục này?"
        choices = tuple(Choice(_label(p.title), choice_procedure(p.id)) for p in procs)
        return Reply(text, (*choices, Choice("Danh sách thủ tục", CHOICE_MENU)))

    def unknown(self) -> Reply:
        """No procedure matches."""
        return Reply(
            "Xin lỗi, tôi chưa tìm thấy thủ tục phù hợp với câu hỏi này.\n"
            "Tôi trả lời về thủ tục hộ tịch, chứng thực, bảo trợ xã hội của xã và tra cứu hồ sơ. "
            "Ông/bà thử hỏi ngắn gọn, ví dụ: «làm giấy khai sinh cần gì», "
            f"hoặc gọi Bộ phận Một cửa: {self.commune.hotline}.",
            (Choice("Danh sách thủ tục", CHOICE_MENU), HANDOVER_CHOICE),
        )

    def word_question(self) -> Reply:
        """A question about a word (a translation, an abbreviation): what the bot does instead."""
        return Reply(
            "Xin lỗi, tôi không dịch hay giải nghĩa từ ngữ. "
            "Tôi trả lời về thủ tục ở Bộ phận Một cửa của xã: cần giấy tờ gì, lệ phí, thời hạn, "
            "nơi nộp, và tra cứu hồ sơ. Ví dụ: «làm giấy khai sinh cần gì». "
            f"Cần hỏi thêm, ông/bà gọi Bộ phận Một cửa: {self.commune.hotline}.",
            (Choice("Danh sách thủ tục", CHOICE_MENU), HANDOVER_CHOICE),
        )

    def no_handover(self) -> Reply:
        """Asking for a person where hand-overs are not set up: how to reach the desk."""
        c = self.commune
        return Reply(
            "Dạ, ông/bà có thể trao đổi trực tiếp với cán bộ Bộ phận Một cửa qua điện thoại "
            f"{c.hotline} hoặc đến {c.office.rstrip('. ')} (giờ làm việc: {c.hours.rstrip('. ')}).",
            (Choice("Danh sách thủ tục", CHOICE_MENU),),
        )

    def help(self) -> Reply:
        """Greeting and what the bot can do."""
        return Reply(
            f"Xin chào! Đây là trợ lý của Bộ phận Một cửa {self.commune.name}.\n"
            "Tôi có thể:\n"
            "1. Cho biết thủ tục cần giấy tờ gì, lệ phí, thời hạn, nộp ở đâu. "
            "Ví dụ: «đăng ký khai sinh cần gì», «chứng thực bản sao bao nhiêu tiền».\n"
            "2. Tra cứu hồ sơ đã nộp: gửi mã hồ sơ in trên giấy biên nhận.\n"
            f"Giờ làm việc: {self.commune.hours}. Điện thoại: {self.commune.hotline}.",
            STANDING_CHOICES,
        )

    def desk(self, topic: str, today: str | None = None) -> Reply:
        """An answer about the desk itself: its hours, address or phone, thanks, or who the
        bot is; ``today`` (a line about the desk today) opens an answer about its hours."""
        c = self.commune
        if topic == "identity":
            return self.help()
        if topic == "thanks":
            return Reply(
                "Dạ, không có gì ạ. Ông/bà cần hỏi thêm về thủ tục hay tra cứu hồ sơ thì cứ nhắn ạ.",
                STANDING_CHOICES,
            )
        hours, office = c.hours.rstrip(". "), c.office.rstrip(". ")
        lines = {
            "hours": [f"Giờ làm việc của Bộ phận Một cửa: {hours}.", f"Điện thoại: {c.hotline}."],
            "address": [f"Địa chỉ: {office}.", f"Giờ làm việc: {hours}."],
            "hotline": [f"Điện thoại Bộ phận Một cửa: {c.hotline}.", f"Giờ làm việc: {hours}."],
        }[topic]
        if today and topic == "hours":
            lines.insert(0, today)
        return Reply("\n".join(lines), (Choice("Danh sách thủ tục", CHOICE_MENU),))

    def not_text(self) -> Reply:
        """For stickers, pictures and other messages without text."""
        return Reply(
            "Tôi chỉ đọc được tin nhắn chữ. Ông/bà gõ câu hỏi, ví dụ «làm giấy khai sinh cần gì», "
            "hoặc gửi mã hồ sơ để tra cứu."
        )

    def fields_menu(self, groups: list[Group]) -> Reply:
        """The catalogue's groups of procedures, to browse."""
        return Reply(
            "Chọn lĩnh vực:",
            tuple(Choice(_label(f"{g.label} ({len(g.procedures)})"), choice_field(i)) for i, g in enumerate(groups)),
        )

    def field_list(self, index: int, group: Group, page: int = 0) -> Reply:
        """One page of a group's procedures, to choose from, with a choice for the next page."""
        start = page * PAGE_SIZE
        shown = group.procedures[start : start + PAGE_SIZE]
        choices = [Choice(_label(p.title), choice_procedure(p.id)) for p in shown]
        if start + PAGE_SIZE < len(group.procedures):
            choices.append(Choice("Xem tiếp", choice_field(index, page + 1)))
        pages = (len(group.procedures) + PAGE_SIZE - 1) // PAGE_SIZE
        head = f"Thủ tục lĩnh vực {group.label}" + (f" (trang {page + 1}/{pages})" if pages > 1 else "") + ":"
        return Reply(head, tuple(choices))

    def stale(self) -> Reply:
        """A button that no longer leads anywhere (the catalogue changed)."""
        return Reply(
            "Lựa chọn này đã cũ. Ông/bà vui lòng hỏi lại hoặc mở danh sách thủ tục.",
            (Choice("Danh sách thủ tục", CHOICE_MENU),),
        )

    def status_unavailable(self) -> Reply:
        """Status questions when no dossier database is configured."""
        return Reply(
            "Hiện chưa tra cứu được tình trạng hồ sơ qua tin nhắn. "
            f"Ông/bà vui lòng gọi Bộ phận Một cửa: {self.commune.hotline}, "
            "đọc mã hồ sơ in trên giấy biên nhận."
        )

    def failure(self) -> Reply:
        """Something went wrong inside the bot."""
        return Reply(
            "Xin lỗi, hệ thống đang gặp sự cố. Ông/bà vui lòng thử lại sau ít phút "
            f"hoặc gọi {self.commune.hotline}."
        )

    def rated_up(self) -> Reply:
        """Thanks for a 👍."""
        return Reply("Cảm ơn ông/bà đã cho biết ý kiến. Chúc ông/bà làm thủ tục thuận lợi.")

    def rated_down(self) -> Reply:
        """An apology for a wrong answer, offering a person of the desk."""
        return Reply(
            "Xin lỗi ông/bà vì câu trả lời chưa đúng. Câu hỏi đã được ghi lại để cán bộ xem và "
            "bổ sung. Ông/bà có thể hỏi lại ngắn gọn hơn, gặp cán bộ một cửa, "
            f"hoặc gọi {self.commune.hotline}.",
            (HANDOVER_CHOICE,),
        )
