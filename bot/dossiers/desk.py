"""Answering dossier status questions: the :class:`StatusDesk`.

A message with codes gets one self-contained reply per code (procedure, dates, status in
plain words, what to do next, masked applicant), so that a hamlet head can forward it as
is. Every code looked up counts against the user and the chat (:mod:`bot.dossiers.limits`):
too many look-ups, unknown codes or different codes pause them. Only a whole code, or the
tail ``yymmdd-NNNN`` of one, is ever looked up. With ``status.require_phone_digits``
details are shown only after the user sends the last three digits of the phone number on
file. Hamlet heads listed in the config can ask for a digest of their hamlet's dossiers
that need attention. The desk never waits on a sync: when one holds the database, a
follow or unfollow is declined kindly and the counters are written later.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from bot.dossiers.codes import MAX_SCAN_CHARS, TAIL, CodeFinder, FoundCode
from bot.config import Config
from bot.messages import MAX_CHOICE_DATA_BYTES, Choice, Incoming, Intent, MatchInfo, Reply, Response
from bot.dossiers.limits import Limit, Limits, LookupLimiter, Refused
from bot.dossiers.privacy import mask_name, phone_matches
from bot.procedures.normalize import fold
from bot.dossiers.statuses import FINAL, PENDING_ON_US, Status, is_overdue, needs_visit, next_step, overdue_note
from bot.dossiers.store import Dossier, DossierStore, StoreBusy

#: Dossiers one user may follow at a time.
MAX_FOLLOWS_PER_USER = 50
#: Seconds between removals of expired phone-digit requests and verifications.
PRUNE_EVERY = 60.0
#: Seconds a request for phone digits stays open.
DIGITS_TTL = 600.0
#: Seconds a dossier stays "verified" for a user (so that they may follow it).
VERIFIED_TTL = 3600.0
#: Lines per group in a hamlet digest before "and N more".
DIGEST_LINES_PER_GROUP = 30

#: Characters of a phone-digits reply before its number ("số cuối là 120").
DIGITS_LEAD_CHARS = 40
#: Longest text echoed back as a code the user does not follow.
ECHO_CHARS = 40

_ASCII_DIGITS = frozenset("0123456789")
_NUMBER_CHARS = frozenset("0123456789.,;/-")
_LEADING_ZEROS = re.compile(r"\b0+(\d)")

Key = tuple[str, str]


def fmt_date(day: date | None) -> str:
    """A date as users read it: dd/mm/yyyy (empty for None)."""
    return day.strftime("%d/%m/%Y") if day else ""


def _hamlet_key(text: str) -> str:
    key = _LEADING_ZEROS.sub(r"\1", fold(text))
    return f"thon {key}" if key.isdigit() else key


def matches_hamlet(address: str, hamlet: str) -> bool:
    """Whether ``address`` lies in ``hamlet`` ("Thôn 3" matches "thon 3, xã Tân Hòa" and
    "Thôn 03" but not "Thôn 30"), ignoring case and diacritics."""
    key = _hamlet_key(hamlet)
    if not key:
        return False
    folded = _LEADING_ZEROS.sub(r"\1", fold(address))
    return re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])", folded) is not None


@dataclass
class _Pending:
    """Codes waiting for the user's phone digits."""

    codes: list[FoundCode]
    deadline: float


@dataclass
class _UserState:
    """What the desk remembers about one user (in memory only; the look-up counters are
    kept by the :class:`LookupLimiter`)."""

    pending: _Pending | None = None
    verified: dict[str, float] | None = None


def digits_reply(text: str) -> str | None:
    """The digits of a reply that is one number, maybe after a few words and before a
    full stop ("số cuối là 120.", "0912 345 678"); None for any other text. Linear in
    the length of ``text``."""
    start = next((i for i, c in enumerate(text[: DIGITS_LEAD_CHARS + 1]) if c in _ASCII_DIGITS), None)
    if start is None:
        return None
    end = start
    while end < len(text) and (text[end] in _NUMBER_CHARS or text[end].isspace()):
        end += 1
    if not all(c.isspace() or c in ".!" for c in text[end:]):
        return None
    return "".join(c for c in text[start:end] if c in _ASCII_DIGITS)


def _scopes(msg: Incoming) -> tuple[str, str]:
    """What a look-up counts against: the user, and the chat (shared by a group's users)."""
    return (f"u:{msg.channel}:{msg.user_id}", f"c:{msg.channel}:{msg.chat_id}")


class StatusDesk:
    """Dossier status answers, follows and hamlet digests for the dialogue engine."""

    def __init__(
        self,
        store: DossierStore,
        config: Config,
        *,
        today: Callable[[], date] = date.today,
        clock: Callable[[], float] = time.time,
        own_codes_only: bool = False,
    ) -> None:
        """``clock`` gives seconds since the epoch: the look-up counters outlive restarts.
        ``own_codes_only``: a typed tail finds only codes with this commune's prefix (the
        store holds several communes' dossiers)."""
        self._store = store
        self._config = config
        self._own_codes_only = own_codes_only
        self._today = today
        self._clock = clock
        self._finder = CodeFinder(config.status.code_pattern, config.status.code_prefix)
        self._limiter = LookupLimiter(store, Limits.of(config.status), clock)
        self._users: dict[Key, _UserState] = {}
        self._next_prune = 0.0
        self._heads: dict[Key, list[str]] = {}
        for head in config.hamlet_heads:
            self._heads.setdefault((head.channel, str(head.user_id)), []).append(head.hamlet)

    # --- public API -------------------------------------------------------------------

    def find_codes(self, text: str) -> list[str]:
        """The dossier codes in ``text`` (tails completed with the commune's prefix)."""
        return self._finder.find(text)

    async def answer(self, msg: Incoming, text: str) -> Response:
        """Answer a status question: one reply per code in ``text``, or ask for a code."""
        found = self._finder.search(text)
        if not found:
            return _response(Reply(self._ask_for_code()))
        await self._limiter.load()
        key = (msg.channel, msg.user_id)
        scopes = _scopes(msg)
        state = self._state(key)
        cap = max(1, self._config.status.max_codes_per_message)
        over_cap = max(0, len(found) - cap)
        found = found[:cap]
        replies: list[Reply] = []
        shown: list[Dossier] = []
        details: list[int] = []  # where in ``replies`` the shown dossiers' details are
        held: list[FoundCode] = []
        refused: Refused | None = None
        left = 0
        try:
            for i, item in enumerate(found):
                refused = self._limiter.check(scopes, item.code)
                if refused is not None:
                    left = len(found) - i
                    break
                self._limiter.lookup(scopes, item.code)
                dossier, problem = await self._resolve(item)
                if dossier is None:
                    if problem != "ambiguous":
                        self._limiter.miss(scopes)
                    replies.append(Reply(self._not_found(item, problem)))
                elif self._must_verify(key, dossier):
                    held.append(FoundCode(dossier.code))
                else:
                    replies.append(await self._dossier_reply(msg, dossier, state))
                    shown.append(dossier)
                    details.append(len(replies) - 1)
        finally:
            await self._limiter.flush()
        if refused is not None and not (replies or held):
            return _response(Reply(self._refusal(refused)))
        if held:
            state.pending = _Pending(held, self._clock() + DIGITS_TTL)
            replies.append(Reply(self._ask_for_digits(held)))
        if refused is not None:
            replies.append(Reply(f"{self._refusal(refused)} Còn {left} mã trong tin nhắn chưa được tra cứu."))
        if over_cap:
            replies.append(
                Reply(
                    f"Mỗi lần chỉ tra được {cap} mã; {over_cap} mã còn lại chưa được tra cứu. "
                    "Ông/bà vui lòng gửi các mã đó trong tin nhắn sau."
                )
            )
        if len(shown) >= COMPACT_FROM:
            # Many dossiers: one line each, details on request (a hamlet head's list).
            replies = [self._compact(shown), *(r for i, r in enumerate(replies) if i not in details)]
        return _about(shown, _response(_one_message(replies)))

    def _compact(self, dossiers: list[Dossier]) -> Reply:
        """Several dossiers as one short list: code tail, procedure, status, and for those
        that need the citizen (come to the desk, pay) or are late, what to do."""
        today = self._today()
        lines = [f"Tình trạng {len(dossiers)} hồ sơ:"]
        for d in dossiers:
            late = is_overdue(d.status, d.appointment, today)
            name = d.procedure if len(d.procedure) <= 40 else d.procedure[:39].rstrip() + "…"
            line = f"• {d.code[-11:]}" + (f" ({name})" if name else "") + f": {d.status.label}"
            if late:
                line += " — quá hẹn trả"
            elif needs_visit(d.status):
                line += " — mời đến Bộ phận Một cửa"
            elif d.appointment and d.status not in FINAL:
                line += f", hẹn trả {fmt_date(d.appointment)}"
            lines.append(line)
        if any(needs_visit(d.status) for d in dossiers):
            commune = self._config.commune
            lines.append(f"Địa điểm: {commune.office}. Giờ làm việc: {commune.hours}.")
        lines.append("Chọn một hồ sơ để xem chi tiết.")
        choices = _choices(*((f"Chi tiết {d.code[-11:]}", f"dossier:{d.code}") for d in dossiers))
        return Reply("\n".join(lines), choices)

    async def pending(self, msg: Incoming) -> Response | None:
        """The answer to a phone-digits reply when this user was asked for one; else None."""
        key = (msg.channel, msg.user_id)
        state = self._users.get(key)
        if state is None or state.pending is None:
            return None
        if state.pending.deadline < self._clock():
            state.pending = None
            return None
        text = msg.text[:MAX_SCAN_CHARS].strip()
        if self._finder.search(text):
            state.pending = None  # a new question: the engine answers it afresh
            return None
        # One number per reply ("0912 345 678" is one number): a single guess per message.
        digits = digits_reply(text)
        if digits is None:
            return None
        if len(digits) < 3:
            if len(text) > 12:
                return None
            return _response(
                Reply("Ông/bà vui lòng gửi đúng 3 chữ số cuối của số điện thoại đã khai khi nộp hồ sơ.")
            )
        await self._limiter.load()
        scopes = _scopes(msg)
        refused = self._limiter.check(scopes, None)
        if refused is not None:
            return _response(Reply(self._refusal(refused)))
        self._limiter.lookup(scopes, None)
        held = state.pending.codes
        state.pending = None
        replies: list[Reply] = []
        shown: list[Dossier] = []
        for item in held:
            dossier = await self._store.get(item.code)
            if dossier is not None and phone_matches(dossier.phone, digits[-3:]):
                self._mark_verified(state, dossier.code)
                replies.append(await self._dossier_reply(msg, dossier, state))
                shown.append(dossier)
            else:
                self._limiter.miss(scopes)
                replies.append(
                    Reply(
                        f"Hồ sơ {item.code}: 3 số cuối điện thoại không khớp với hồ sơ nên chưa thể "
                        "hiển thị thông tin. Ông/bà vui lòng gửi lại mã hồ sơ và nhập đúng 3 số cuối "
                        "của số điện thoại đã khai khi nộp, hoặc gọi đường dây nóng "
                        f"{self._config.commune.hotline}."
                    )
                )
        await self._limiter.flush()
        return _about(shown, _response(*replies))

    async def follow(self, msg: Incoming, code: str) -> Response:
        """Start notifying this user (on this channel) when the dossier's status changes."""
        item = self._one_code(code)
        if item is None:
            return _response(Reply(self._ask_for_code(action="theo dõi")))
        await self._limiter.load()
        key = (msg.channel, msg.user_id)
        scopes = _scopes(msg)
        state = self._state(key)
        refused = self._limiter.check(scopes, item.code)
        if refused is not None:
            return _response(Reply(self._refusal(refused)))
        self._limiter.lookup(scopes, item.code)
        try:
            dossier, problem = await self._resolve(item)
            if dossier is None and problem != "ambiguous":
                self._limiter.miss(scopes)
        finally:
            await self._limiter.flush()
        if dossier is None:
            return _response(Reply(self._not_found(item, problem)))
        if self._must_verify(key, dossier) and not self._is_verified(state, dossier.code):
            return _response(
                Reply(
                    f"Để theo dõi hồ sơ {dossier.code}, ông/bà vui lòng tra cứu hồ sơ trước: gửi mã "
                    "hồ sơ rồi nhập 3 số cuối của số điện thoại đã khai khi nộp."
                )
            )
        if dossier.status in FINAL:
            return _response(
                Reply(
                    f"Hồ sơ {dossier.code} đã ở trạng thái \"{dossier.status.label}\", sẽ không thay "
                    "đổi nữa nên không cần theo dõi."
                )
            )
        if await self._store.is_following(msg.channel, msg.user_id, dossier.code):
            return _response(
                Reply(
                    f"Ông/bà đang theo dõi hồ sơ {dossier.code} rồi. Khi trạng thái thay đổi, "
                    "chúng tôi sẽ nhắn tin tại đây.",
                    _choices(("Bỏ theo dõi", f"unfollow:{dossier.code}")),
                )
            )
        if len(await self._store.follows_of(msg.channel, msg.user_id)) >= MAX_FOLLOWS_PER_USER:
            return _response(
                Reply(
                    f"Ông/bà đang theo dõi {MAX_FOLLOWS_PER_USER} hồ sơ, là số tối đa. Vui lòng bỏ "
                    "theo dõi bớt hồ sơ đã xong (gửi /huytheodoi) rồi thử lại."
                )
            )
        try:
            await self._store.follow(msg.channel, msg.user_id, msg.chat_id, dossier.code)
        except StoreBusy:
            return _response(Reply(self._busy("đăng ký theo dõi", dossier.code)))
        return _response(
            Reply(
                f"Đã đăng ký theo dõi hồ sơ {dossier.code} (hiện: {dossier.status.label}). "
                "Khi trạng thái hồ sơ thay đổi, ông/bà sẽ nhận được tin nhắn tại đây. "
                f"Để bỏ theo dõi, gửi: /huytheodoi {dossier.code}",
                _choices(("Bỏ theo dõi", f"unfollow:{dossier.code}")),
            )
        )

    async def unfollow(self, msg: Incoming, code: str) -> Response:
        """Stop notifying this user about a dossier; with no code, about their only one,
        or offer the list to choose from."""
        following = await self._store.follows_of(msg.channel, msg.user_id)
        item = self._one_code(code)
        if item is None:
            raw = re.sub(r"\s+", "", code[:MAX_SCAN_CHARS]).upper()
            if raw in following:  # a code of another form, followed before: only theirs
                item = FoundCode(raw)
            elif raw:
                return _response(Reply(self._ask_for_code(action="bỏ theo dõi")))
        if item is None:
            if not following:
                return _response(Reply("Ông/bà hiện không theo dõi hồ sơ nào."))
            if len(following) > 1:
                return _response(
                    Reply(
                        "Ông/bà đang theo dõi các hồ sơ dưới đây. Chọn hồ sơ muốn bỏ theo dõi, hoặc "
                        "gửi: /huytheodoi <mã hồ sơ>",
                        _choices(*((c, f"unfollow:{c}") for c in following[:10])),
                    )
                )
            target = following[0]
        else:
            target = item.code
            if target not in following and item.tail:
                same_tail = [c for c in following if c.endswith(f"-{item.tail}")]
                if len(same_tail) == 1:
                    target = same_tail[0]
        try:
            removed = await self._store.unfollow(msg.channel, msg.user_id, target)
        except StoreBusy:
            return _response(Reply(self._busy("bỏ theo dõi", target)))
        if removed:
            return _response(
                Reply(f"Đã bỏ theo dõi hồ sơ {target}. Ông/bà sẽ không nhận tin nhắn về hồ sơ này nữa.")
            )
        return _response(Reply(f"Ông/bà không theo dõi hồ sơ {target[:ECHO_CHARS]}."))

    async def digest(self, msg: Incoming) -> Response:
        """For a hamlet head: their hamlet's dossiers that are ready, need papers or fees,
        or are overdue (masked names). Anyone else gets a kind refusal."""
        hamlets = self._heads.get((msg.channel, msg.user_id))
        if not hamlets:
            return _response(
                Reply(
                    "Danh sách hồ sơ theo thôn chỉ dành cho trưởng thôn đã được UBND xã đăng ký. "
                    "Ông/bà có thể tra cứu từng hồ sơ bằng cách gửi mã in trên giấy biên nhận."
                )
            )
        today = self._today()
        wanted = {Status.DONE, Status.SUPPLEMENT, Status.FINANCIAL, *PENDING_ON_US}
        if self._own_codes_only:  # another commune's "Thôn 1" is not this head's hamlet
            # Read only this commune's codes: a province holds millions of dossiers.
            prefix = self._config.status.code_prefix.upper()
            candidates = await self._store.in_statuses(wanted, code_prefix=prefix)
        else:
            candidates = await self._store.in_statuses(wanted)
        return _response(*(Reply(self._digest_text(h, candidates, today)) for h in hamlets))

    # --- wording ----------------------------------------------------------------------

    def _example_code(self) -> str:
        prefix = self._config.status.code_prefix
        return f"{prefix}-251120-0001" if prefix else "251120-0001"

    def _ask_for_code(self, action: str = "tra cứu") -> str:
        tail_hint = (
            " Có thể gửi phần cuối của mã, ví dụ 251120-0001." if self._config.status.code_prefix else ""
        )
        return (
            f"Để {action} hồ sơ, ông/bà vui lòng gửi mã hồ sơ (số biên nhận), ví dụ: "
            f"{self._example_code()}. Mã này in trên giấy biên nhận hồ sơ (giấy tiếp nhận hồ sơ "
            f"và hẹn trả kết quả), cạnh mã QR.{tail_hint}"
        )

    def _ask_for_digits(self, held: list[FoundCode]) -> str:
        codes = ", ".join(f.code for f in held)
        return (
            f"Để bảo vệ thông tin cá nhân, trước khi xem hồ sơ {codes}, ông/bà vui lòng gửi "
            "3 chữ số cuối của số điện thoại đã khai khi nộp hồ sơ."
        )

    def _not_found(self, item: FoundCode, problem: str) -> str:
        if problem == "ambiguous":
            return (
                f"Có nhiều hồ sơ cùng đuôi mã {item.tail or item.code}. Ông/bà vui lòng gửi mã đầy "
                "đủ như in trên giấy biên nhận."
            )
        return (
            f"Không tìm thấy hồ sơ {item.code}. Ông/bà vui lòng kiểm tra lại mã in trên giấy biên "
            "nhận (số biên nhận, cạnh mã QR). Hồ sơ vừa nộp có thể chưa cập nhật kịp; cần hỗ trợ "
            f"xin gọi {self._config.commune.hotline}."
        )

    def _busy(self, action: str, code: str) -> str:
        return (
            f"Hệ thống đang cập nhật dữ liệu hồ sơ nên chưa {action} hồ sơ {code} được. "
            "Ông/bà vui lòng gửi lại sau ít phút."
        )

    def _refusal(self, refused: Refused) -> str:
        hotline = self._config.commune.hotline
        minutes = max(1, round(refused.wait / 60))
        wait = f"{minutes} phút" if minutes < 90 else f"{round(minutes / 60)} giờ"
        if refused.limit is Limit.MISSES:
            return (
                "Ông/bà đã gửi nhiều mã hồ sơ không tìm thấy. Để bảo vệ thông tin của người dân, "
                f"vui lòng thử lại sau khoảng {wait} và kiểm tra kỹ mã in trên giấy biên nhận. "
                f"Cần hỗ trợ xin gọi {hotline}."
            )
        if refused.limit is Limit.RATE:
            return "Ông/bà đã tra cứu nhiều lần trong một phút. Vui lòng chờ một lát rồi gửi lại."
        if refused.limit is Limit.ALL:
            return (
                "Hệ thống đang nhận quá nhiều lượt tra cứu mã hồ sơ nên tạm ngừng tra cứu mã mới để "
                f"bảo vệ thông tin của người dân. Vui lòng thử lại sau khoảng {wait}, hoặc gọi "
                f"{hotline}."
            )
        return (
            "Ông/bà đã tra cứu nhiều mã hồ sơ khác nhau trong thời gian ngắn. Để bảo vệ thông tin "
            f"của người dân, vui lòng thử lại sau khoảng {wait}; các hồ sơ vừa tra cứu vẫn xem lại "
            f"được. Cần tra cứu nhiều hồ sơ, xin gọi {hotline}."
        )

    async def _dossier_reply(self, msg: Incoming, dossier: Dossier, state: _UserState) -> Reply:
        self._mark_verified(state, dossier.code)
        today = self._today()
        late = is_overdue(dossier.status, dossier.appointment, today)
        lines = [f"Hồ sơ {dossier.code}"]
        if dossier.procedure:
            lines.append(f"Thủ tục: {dossier.procedure}")
        lines.append(f"Người nộp: {mask_name(dossier.applicant)}")
        if dossier.received:
            lines.append(f"Ngày tiếp nhận: {fmt_date(dossier.received)}")
        if dossier.appointment:
            lines.append(f"Ngày hẹn trả: {fmt_date(dossier.appointment)}")
        if dossier.returned:
            lines.append(f"Ngày trả kết quả: {fmt_date(dossier.returned)}")
        lines.append(f"Trạng thái: {dossier.status.label}" + (" (quá hạn hẹn trả)" if late else ""))
        if late and dossier.appointment:  # "wait for the appointment date" no longer applies
            lines.append(overdue_note(dossier.appointment, today, self._config.commune.hotline))
        else:
            lines.append(next_step(dossier.status))
        if needs_visit(dossier.status):
            commune = self._config.commune
            lines.append(f"Địa điểm: {commune.office}. Giờ làm việc: {commune.hours}.")
        choices: tuple[Choice, ...] = ()
        if dossier.status not in FINAL:
            if await self._store.is_following(msg.channel, msg.user_id, dossier.code):
                choices = _choices(("Bỏ theo dõi", f"unfollow:{dossier.code}"))
            else:
                choices = _choices(("Theo dõi", f"follow:{dossier.code}"))
        return Reply("\n".join(lines), choices)

    def _digest_text(self, hamlet: str, candidates: Iterable[Dossier], today: date) -> str:
        mine = [d for d in candidates if matches_hamlet(d.address, hamlet)]
        groups: list[tuple[str, list[Dossier]]] = [
            ("Đã có kết quả, mời đến nhận", [d for d in mine if d.status is Status.DONE]),
            ("Cần bổ sung giấy tờ", [d for d in mine if d.status is Status.SUPPLEMENT]),
            ("Cần thực hiện nghĩa vụ tài chính", [d for d in mine if d.status is Status.FINANCIAL]),
            (
                "Quá hạn hẹn trả",
                [d for d in mine if is_overdue(d.status, d.appointment, today)],
            ),
        ]
        header = f"{hamlet}: hồ sơ cần lưu ý (ngày {fmt_date(today)})"
        if not any(items for _, items in groups):
            return (
                f"{hamlet} hiện không có hồ sơ nào đã có kết quả, cần bổ sung giấy tờ, cần nộp "
                f"nghĩa vụ tài chính hoặc quá hạn (ngày {fmt_date(today)})."
            )
        lines = [header]
        for title, items in groups:
            if not items:
                continue
            lines.append("")
            lines.append(f"{title} ({len(items)}):")
            for d in items[:DIGEST_LINES_PER_GROUP]:
                procedure = d.procedure if len(d.procedure) <= 60 else d.procedure[:59] + "…"
                extra = f" · hẹn {fmt_date(d.appointment)}" if title == "Quá hạn hẹn trả" else ""
                parts = [d.code, mask_name(d.applicant), *([procedure] if procedure else [])]
                lines.append("- " + " · ".join(parts) + extra)
            if len(items) > DIGEST_LINES_PER_GROUP:
                lines.append(f"- … và {len(items) - DIGEST_LINES_PER_GROUP} hồ sơ khác")
        lines.append("")
        lines.append(
            "Người dân đến nhận kết quả hoặc bổ sung nhớ mang theo giấy biên nhận. "
            f"Đường dây nóng: {self._config.commune.hotline}."
        )
        return "\n".join(lines)

    # --- limits and verification -------------------------------------------------------

    def _state(self, key: Key) -> _UserState:
        state = self._users.get(key)
        if state is None:
            if len(self._users) >= 10_000 and self._clock() >= self._next_prune:
                self._next_prune = self._clock() + PRUNE_EVERY
                self._prune()
            state = self._users[key] = _UserState()
        return state

    def _prune(self) -> None:
        now = self._clock()
        for key in list(self._users):
            s = self._users[key]
            if s.verified:
                s.verified = {c: t for c, t in s.verified.items() if t > now} or None
            if s.pending and s.pending.deadline < now:
                s.pending = None
            if not (s.verified or s.pending):
                del self._users[key]

    def _must_verify(self, key: Key, dossier: Dossier) -> bool:
        if not self._config.status.require_phone_digits:
            return False
        hamlets = self._heads.get(key, [])
        return not any(matches_hamlet(dossier.address, h) for h in hamlets)

    def _mark_verified(self, state: _UserState, code: str) -> None:
        if state.verified is None:
            state.verified = {}
        state.verified[code] = self._clock() + VERIFIED_TTL

    def _is_verified(self, state: _UserState, code: str) -> bool:
        return bool(state.verified) and state.verified.get(code, 0.0) > self._clock()  # type: ignore[union-attr]

    # --- codes -------------------------------------------------------------------------

    def _one_code(self, text: str) -> FoundCode | None:
        """The first whole code (or documented tail) in ``text``; None for anything else,
        such as a sequence number alone."""
        found = self._finder.search(text)
        return found[0] if found else None

    async def _resolve(self, item: FoundCode) -> tuple[Dossier | None, str]:
        dossier = await self._store.get(item.code)
        tail = item.tail
        own = f"{self._config.status.code_prefix}-".upper()
        if tail is None and own != "-" and item.code.startswith(own):
            tail = item.code[len(own) :]  # completed by a caller from a typed tail
        if dossier is not None or not tail or not TAIL.fullmatch(tail):
            return dossier, "unknown"
        if self._own_codes_only:  # another commune's dossier is never reached by its tail
            matches = [c for c in await self._store.codes_ending_with(tail, limit=TENANT_TAILS) if c.upper().startswith(own)]
            matches = matches[:2]
        else:
            matches = await self._store.codes_ending_with(tail, limit=2)
        if len(matches) == 1:
            return await self._store.get(matches[0]), "unknown"
        return None, "ambiguous" if matches else "unknown"


#: With several communes in one store: how many codes with a tail are read before the
#: commune's own are kept (bounded work; a tail is shared by few codes).
TENANT_TAILS = 200

#: From this many dossiers in one answer, they come as a compact list.
COMPACT_FROM = 3


def _one_message(replies: list[Reply]) -> Reply:
    """Answers about several dossiers as one message (a hamlet head forwards it whole);
    each button then names its dossier ("Theo dõi 261119-0013")."""
    if len(replies) == 1:
        return replies[0]
    choices = tuple(
        Choice(f"{c.label} {c.data.partition(':')[2][-11:]}", c.data) for r in replies for c in r.choices
    )
    return Reply("\n\n".join(r.text for r in replies), choices)


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(
        Choice(label, data) for label, data in pairs if len(data.encode("utf-8")) <= MAX_CHOICE_DATA_BYTES
    )


def _response(*replies: Reply) -> Response:
    return Response(intent=Intent.STATUS, replies=list(replies))


def _about(shown: list[Dossier], response: Response) -> Response:
    """``response`` naming the catalogue procedure of the dossiers shown, when they share
    one, so that a follow-up ("thế còn lệ phí?", "nộp bổ sung ở đâu") is about it."""
    ids = {d.procedure_id for d in shown}
    if len(ids) == 1 and (proc_id := ids.pop()):
        response.matches = [MatchInfo(proc_id, shown[0].procedure, 100.0)]
    return response
