"""The words the bot says about procedures: plain text, short enough for a phone.

Everything a reply states about a procedure comes from its catalogue file; where the
file lacks a fact (a fee the commune has not posted), the reply says so instead of
guessing. Commune details (office, hours, hotline) come from the config.
"""

from __future__ import annotations

from bot.procedures.catalogue import Catalogue, Family, Procedure
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

#: Choice data understood by the engine (kept short: Telegram allows 64 bytes).
CHOICE_MENU = "menu"
CHOICE_STATUS_HELP = "status"


#: Choices the bot offers in many replies; typed back at any time, they do what they say.
STANDING_CHOICES = (Choice("Danh sách thủ tục", CHOICE_MENU), Choice("Tra cứu hồ sơ", CHOICE_STATUS_HELP))


def choice_procedure(proc_id: str) -> str:
    """Choice data that opens a procedure."""
    return f"p:{proc_id}"


def choice_aspect(proc_id: str, aspect: Aspect) -> str:
    """Choice data that shows one aspect of a procedure."""
    return f"a:{proc_id}:{aspect.value}"


def choice_field(index: int) -> str:
    """Choice data that lists the procedures of the ``index``-th field."""
    return f"f:{index}"


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
            return "Giấy tờ cần chuẩn bị:\n" + numbered(proc.documents)
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
        """Buttons for the aspects of ``proc`` not shown yet."""
        return tuple(
            Choice(label, choice_aspect(proc.id, aspect))
            for aspect, label in ASPECT_LABELS.items()
            if aspect not in shown
            and (aspect is not Aspect.CONDITIONS or proc.conditions or proc.online)
        )

    def procedure(self, proc: Procedure, aspects: list[Aspect]) -> Reply:
        """The answer about ``proc``: the asked aspects first, or an overview."""
        parts = [proc.title]
        if aspects:
            parts += [self.aspect_text(proc, a) for a in aspects]
            shown = aspects
        else:
            if proc.summary:
                parts[0] = f"{proc.title}\n{proc.summary}"
            parts.append(self.aspect_text(proc, Aspect.DOCUMENTS))
            parts.append(
                "\n".join(
                    (
                        self.aspect_text(proc, Aspect.TIME).split("\n")[0],
                        self.aspect_text(proc, Aspect.FEE).split("\n")[0],
                    )
                )
            )
            shown = [Aspect.DOCUMENTS, Aspect.TIME, Aspect.FEE]
        return Reply("\n\n".join(parts), self.aspect_choices(proc, shown))

    def with_variants(self, reply: Reply, family: Family, catalogue: Catalogue) -> Reply:
        """``reply`` about a family's common case, with the question that tells the other
        variants apart and a choice for each of them."""
        others = [m for m in family.others if catalogue.get(m.id) is not None]
        if not others:
            return reply
        text = f"{reply.text}\n\n❓ {family.question}\nNếu là trường hợp khác, ông/bà chọn bên dưới."
        choices = tuple(Choice(_label(m.when), choice_procedure(m.id)) for m in others)
        return Reply(text, choices + reply.choices)

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

    def unknown(self) -> Reply:
        """No procedure matches."""
        return Reply(
            "Xin lỗi, tôi chưa tìm thấy thủ tục phù hợp với câu hỏi này.\n"
            "Tôi trả lời về thủ tục hộ tịch, chứng thực, bảo trợ xã hội của xã và tra cứu hồ sơ. "
            "Ông/bà thử hỏi ngắn gọn, ví dụ: «làm giấy khai sinh cần gì», "
            f"hoặc gọi Bộ phận Một cửa: {self.commune.hotline}.",
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

    def desk(self, topic: str) -> Reply:
        """An answer about the desk itself: its hours, address or phone, thanks, or who the bot is."""
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
        return Reply("\n".join(lines), (Choice("Danh sách thủ tục", CHOICE_MENU),))

    def not_text(self) -> Reply:
        """For stickers, pictures and other messages without text."""
        return Reply(
            "Tôi chỉ đọc được tin nhắn chữ. Ông/bà gõ câu hỏi, ví dụ «làm giấy khai sinh cần gì», "
            "hoặc gửi mã hồ sơ để tra cứu."
        )

    def fields_menu(self, catalogue: Catalogue) -> Reply:
        """The catalogue's fields, to browse."""
        fields = catalogue.fields()
        return Reply(
            "Chọn lĩnh vực:",
            tuple(Choice(f"{name} ({len(catalogue.in_field(name))})", choice_field(i)) for i, name in enumerate(fields)),
        )

    def field_list(self, field_name: str, procs: list[Procedure]) -> Reply:
        """The procedures of one field, to choose from."""
        return Reply(
            f"Thủ tục lĩnh vực {field_name}:",
            tuple(Choice(_label(p.title), choice_procedure(p.id)) for p in procs),
        )

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
