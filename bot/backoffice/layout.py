"""The pages' common layout: the menu, the notice after an action, the template
rendering with what every page shows, and the filters that word dates and numbers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.backoffice.context import BACKOFFICE, SESSION

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Fixed notices shown after an action (the query string carries only the key).
NOTICES: dict[str, str] = {
    "replied": "Đã lưu câu trả lời; trợ lý đang gửi cho người dân.",
    "closed": "Đã đóng yêu cầu.",
    "alias": "Đã thêm cách hỏi; trợ lý dùng ngay, không cần khởi động lại.",
    "posted": "Đã đăng thông báo.",
    "removed": "Đã gỡ thông báo.",
    "gone": "Yêu cầu này đã được đóng hoặc không còn.",
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


def base_context(request: web.Request) -> dict[str, Any]:
    """What every page's layout shows: the session, the menu, the notice of the last action."""
    session = request.get(SESSION)
    return {
        "session": session,
        "csrf": session.csrf if session else "",
        "nav": NAV,
        "path": request.path,
        "commune": request.app[BACKOFFICE].app.config.commune.name,
        "notice": NOTICES.get(request.query.get("ok", "")),
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


