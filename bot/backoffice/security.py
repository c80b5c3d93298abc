"""The back office's request guards: security headers, the login session, CSRF.

Every page but the login page needs a session (a random id in an HttpOnly,
SameSite=Strict cookie, Secure unless configured off). Every POST carries a CSRF token in
its form: the session's own token once logged in, and for the login form a token that
must match a cookie of the same browser (double submit). A POST without a valid token is
refused with 403 and a Vietnamese page, before it does anything.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.backoffice.accounts import Session, same_token
from bot.backoffice.context import BACKOFFICE, SESSION, VIEW, Backoffice
from bot.backoffice.layout import Handler, render
from bot.backoffice.scope import PARAM, ScopeRefused, request_scope

SESSION_COOKIE = "motcua_session"
LOGIN_COOKIE = "motcua_login"
#: Paths served without a session.
PUBLIC = ("/login", "/static/")

CSRF_REFUSED = (
    "Yêu cầu bị từ chối: mã bảo mật của biểu mẫu không hợp lệ hoặc đã hết hạn. "
    "Vui lòng tải lại trang rồi thử lại."
)

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

def client_address(request: web.Request, behind_proxy: bool) -> str:
    """The client's address: the peer, or behind a proxy the last X-Forwarded-For entry."""
    if behind_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:64]
    return request.remote or "?"


def set_cookie(response: web.StreamResponse, bo: Backoffice, name: str, value: str, max_age: int | None = None) -> None:
    """Set one of our cookies with the flags every one of them has."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
        secure=bo.config.secure_cookies,
    )


def refuse(request: web.Request, message: str = CSRF_REFUSED, status: int = 403) -> web.Response:
    """A Vietnamese error page with ``status``."""
    return render(request, "error.html", {"message": message, "title": "Không thực hiện được"}, status)


def login_token(request: web.Request) -> str:
    """The login form's CSRF token: the browser's login cookie, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    return token if 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every response (redirects and errors too); pages are not cached."""
    for key, value in _HEADERS.items():
        response.headers.setdefault(key, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session and the view of its commune; send visitors without one to the
    login page (403 for a POST); refuse a commune the account may not see."""
    bo: Backoffice = request.app[BACKOFFICE]
    session: Session | None = await bo.accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    request[SESSION] = session
    request[VIEW] = None
    if session is None:
        if not request.path.startswith(PUBLIC):
            if request.method == "POST":
                return refuse(request, "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.")
            raise web.HTTPSeeOther("/login")
    elif not request.path.startswith(PUBLIC):
        try:
            commune = request_scope(session, request.query.get(PARAM), bo.communes)
        except ScopeRefused as refused:
            return refuse(request, refused.message, status=refused.status)
        request[VIEW] = bo.view(commune)
    return await handler(request)


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (403) every POST whose form has no valid CSRF token."""
    if request.method == "POST":
        form = await request.post()
        given = form.get("csrf")
        session: Session | None = request[SESSION]
        if request.path == "/login":
            expected = request.cookies.get(LOGIN_COOKIE, "")
            valid = len(expected) >= 20 and same_token(given if isinstance(given, str) else None, expected)
        else:
            valid = session is not None and same_token(given if isinstance(given, str) else None, session.csrf)
        if not valid:
            return refuse(request)
    return await handler(request)
