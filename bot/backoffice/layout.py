"""The pages' common layout: the menu, the notice after an action, the template
rendering with what every page shows, and the filters that word dates and numbers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from urllib.parse import quote

from bot.backoffice.context import BACKOFFICE, SESSION, VIEW

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Fixed notices shown after an action (the query string carries only the key).
NOTICES: dict[str, str] = {
    "replied": "Đã lưu câu trả lời; trợ lý đang gửi cho người dân.",
    "closed": "Đã đóng yêu cầu.",
    "alias": "Đã thêm cách hỏi; trợ lý dùng ngay, không cần khởi động lại.",
    "posted": "Đã đăng thông báo.",
    "removed": "Đã gỡ thông báo.",
    "gone": "Yêu cầu này đã được đóng hoặc không còn.",
    "edited": "Đã lưu thông tin thủ tục; trợ lý dùng ngay, không cần khởi động lại.",
    "unchanged": "Không có thông tin nào thay đổi nên tệp được giữ nguyên.",
}

NAV = (
    ("/", "Tổng quan"),
    ("/inbox", "Gặp cán bộ"),
    ("/missed", "Câu chưa trả lời được"),
    ("/procedures", "Thủ tục"),
    ("/sync", "Nạp hồ sơ"),
    ("/followers", "Người theo dõi"),
    ("/channels", "Kênh"),
    ("/notices", "Thông báo"),
    ("/audit", "Nhật ký"),
)
#: Pages only a provincial administrator has.
PROVINCE_NAV = (("/province", "Toàn tỉnh"),)


def scope_link(commune: str | None, provincial: bool) -> Callable[[str], str]:
    """A function giving a path of the back office that keeps the commune a provincial
    administrator chose (its ``commune`` parameter); for everyone else the path as is."""
    if not provincial or not commune or commune == "*":
        return lambda path: path
    suffix = f"commune={quote(commune, safe='')}"
    return lambda path: f"{path}{'&' if '?' in path else '?'}{suffix}"


def base_context(request: web.Request) -> dict[str, Any]:
    """What every page's layout shows: the session, the menu, the notice of the last action."""
    session = request.get(SESSION)
    view = request.get(VIEW)
    bo = request.app[BACKOFFICE]
    provincial = bool(session and session.provincial)
    selected = view.commune if view is not None else (session.commune if session else "")
    return {
        "session": session,
        "csrf": session.csrf if session else "",
        "nav": NAV + PROVINCE_NAV if provincial else NAV,
        "path": request.path,
        "commune": bo.commune_name(selected) if session else bo.app.config.commune.name,
        "notice": NOTICES.get(request.query.get("ok", "")),
        "provincial": provincial,
        "choices": list(bo.communes.items()) if provincial else [],
        "selected": selected,
        "link": scope_link(selected, provincial),
    }


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """Render ``template`` with the layout's context and ``context``."""
    return aiohttp_jinja2.render_template(
        template, request, {**base_context(request), **context}, status=status
    )


def page(template: str) -> Callable[[Callable[[web.Request], Awaitable[dict[str, Any]]]], Handler]:
    """Decorate a handler returning a template context into one rendering ``template``."""

    def wrap(handler: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> Handler:
        @functools.wraps(handler)
        async def rendered(request: web.Request) -> web.Response:
            return render(request, template, await handler(request))

        return rendered

    return wrap


def vn_datetime(value: Any) -> str:
    """A timestamp (epoch seconds, datetime or ISO text) as dd/mm/yyyy HH:MM."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value)
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def vn_number(value: int | float) -> str:
    """A number with Vietnamese thousands separators (3.000)."""
    return f"{int(value):,}".replace(",", ".")


