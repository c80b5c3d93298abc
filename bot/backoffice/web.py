"""The back office's web application (aiohttp.web, Jinja2 templates rendered on the
server, no JavaScript): routes and their handlers.

Every POST is checked for its CSRF token before its handler runs
(:mod:`bot.backoffice.security`), then redirects (POST/redirect/GET), carrying a fixed
notice key in the query string (never text from the request).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.backoffice import facts, overview
from bot.backoffice.accounts import PROVINCE, LoginOutcome
from bot.backoffice.context import BACKOFFICE, SESSION, VIEW, Backoffice
from bot.backoffice.layout import page, render, scope_link, vn_datetime, vn_number
from bot.backoffice.scope import View
from bot.backoffice.security import (
    LOGIN_COOKIE, SESSION_COOKIE, add_headers, client_address, csrf_middleware, login_token, refuse,
    session_middleware, set_cookie,
)
from bot.backoffice.views import channel_health, procedure_rows
from bot.dossiers.statuses import Status
from bot.errors import CatalogueError
from bot.procedures.aliases import AliasError, add_alias
from bot.staff.hours import VIETNAM
from bot.staff.notices import NoticeError
from bot.tenants import overlay_of

log = logging.getLogger(__name__)

#: Request bodies larger than this are refused (a form is a few kilobytes).
MAX_BODY = 64 * 1024
MAX_REPLY = 2000
MAX_NOTICE = 500
MAX_ALIAS = 200

LOGIN_REFUSED = "Tên đăng nhập hoặc mật khẩu không đúng."
LOGIN_LOCKED = (
    "Đăng nhập bị tạm khóa vì nhập sai nhiều lần. Vui lòng thử lại sau {minutes} phút."
)


def _bo(request: web.Request) -> Backoffice:
    return request.app[BACKOFFICE]


def _staff(request: web.Request) -> str:
    return request[SESSION].account


async def _reload_after_edit(request: web.Request, done: str) -> web.Response | None:
    """Answer from the edited catalogue at once; the page saying so (``done``, but the
    catalogue does not validate) when it cannot, else None."""
    try:
        await _bo(request).app.reload_catalogue()
    except CatalogueError:
        return refuse(request, f"{done}, nhưng danh mục đang có lỗi nên trợ lý chưa dùng được; "
                               "hãy chạy motcua validate.", status=500)
    return None


def _view(request: web.Request) -> View:
    """The stores as the logged-in account's commune (or the commune chosen by a
    provincial administrator) sees them."""
    view = request.get(VIEW)
    if view is None:  # every page but the login page has one (security.session_middleware)
        raise web.HTTPForbidden()
    return view


def _to(request: web.Request, path: str) -> web.HTTPSeeOther:
    """A redirect to ``path`` keeping the commune a provincial administrator looks at."""
    session = request[SESSION]
    return web.HTTPSeeOther(scope_link(_view(request).commune, bool(session and session.provincial))(path))


# --- login ---------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    """The login form (with a fresh double-submit CSRF cookie)."""
    if request.get(SESSION) is not None:
        raise web.HTTPSeeOther("/")
    return _login_form(request)


def _login_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = login_token(request)
    response = render(request, "login.html", {"login_csrf": token, "error": error, "title": "Đăng nhập"}, status)
    set_cookie(response, _bo(request), LOGIN_COOKIE, token)
    return response


async def login_submit(request: web.Request) -> web.Response:
    """Check the name and password (lock-out included) and start a session."""
    bo = _bo(request)
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    result = await bo.accounts.login(name, password, client_address(request, bo.config.behind_proxy))
    if result.outcome is LoginOutcome.LOCKED:
        minutes = max(1, round(bo.config.lockout_minutes))
        return _login_form(request, LOGIN_LOCKED.format(minutes=minutes), status=429)
    if result.outcome is not LoginOutcome.OK or result.account is None:
        return _login_form(request, LOGIN_REFUSED, status=401)
    session_id, session = await bo.accounts.new_session(result.account)
    await bo.view(session.commune).audit.record(result.account, "login")
    response = web.HTTPSeeOther("/")
    set_cookie(response, bo, SESSION_COOKIE, session_id)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    """End the session."""
    bo = _bo(request)
    await bo.accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
    await bo.view(request[SESSION].commune).audit.record(_staff(request), "logout")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- overview ------------------------------------------------------------------------


@page("overview.html")
async def overview_page(request: web.Request) -> dict[str, Any]:
    """Today and this week: messages, answer rate, hand-overs waiting, a chart of 7 days."""
    view = _view(request)
    today = date.today()
    days = await overview.daily_totals(view.activity, today - timedelta(days=6), today)
    waiting = (await view.handovers.counts()).get("waiting", 0)
    return {
                "title": "Tổng quan",
        "today": overview.summary(days[-1:]),
        "week": overview.summary(days),
        "chart": overview.chart(days),
        "waiting": waiting,
    }


def _provincial(request: web.Request) -> None:
    """Refuse (403) a page that is a provincial administrator's only."""
    if not request[SESSION].provincial:
        raise web.HTTPForbidden()


def _edits_base(request: web.Request) -> bool:
    """Whether the account may change the base catalogue: a provincial administrator,
    or anyone in a one-commune install (where the base is the commune's own)."""
    return bool(request[SESSION].provincial) or not _bo(request).communes


@page("province.html")
async def province_page(request: web.Request) -> dict[str, Any]:
    """One row per commune: hand-overs waiting, missed questions in the last 7 days,
    messages this month (each read through that commune's view)."""
    _provincial(request)
    bo = _bo(request)
    today = date.today()
    rows = []
    for commune, name in bo.communes.items():
        view = bo.view(commune)
        days = await overview.daily_totals(view.activity, today.replace(day=1), today)
        rows.append(overview.CommuneRow(
            commune, name,
            waiting=(await view.handovers.counts()).get("waiting", 0),
            missed=await view.missed.count(today - timedelta(days=6)),
            messages=overview.summary(days).total,
        ))
    return {"title": "Toàn tỉnh", "rows": rows, "totals": overview.totals(rows), "month": f"{today:%m/%Y}"}


# --- hand-overs ----------------------------------------------------------------------

_STATES = {"waiting": "Đang chờ", "answered": "Đã trả lời", "closed": "Đã đóng"}
_DELIVERIES = {
    "pending": "chờ gửi", "sending": "đang gửi", "sent": "đã gửi", "failed": "gửi không được",
    "dropped": "không gửi được (người dân đã chặn trợ lý)",
}


@page("inbox.html")
async def inbox_page(request: web.Request) -> dict[str, Any]:
    """Hand-overs in one state (waiting by default), newest first."""
    view = _view(request)
    state = request.query.get("state", "waiting")
    if state not in _STATES:
        state = "waiting"
    items = await view.handovers.list(state=state, limit=100)
    counts = await view.handovers.counts()
    return {
        "title": "Gặp cán bộ", "items": items, "state": state,
        "states": _STATES, "counts": counts,
    }


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


@page("handover.html")
async def handover_page(request: web.Request) -> dict[str, Any]:
    """One hand-over with its turns, the reply box and the close button."""
    item = await _view(request).handovers.get(_id(request))
    if item is None:
        raise web.HTTPNotFound()
    return {
        "title": f"Yêu cầu số {item.id}", "item": item, "states": _STATES,
        "max_reply": MAX_REPLY, "deliveries": _DELIVERIES,
    }


async def handover_reply(request: web.Request) -> web.Response:
    """Send the staff member's reply to the resident."""
    view = _view(request)
    handover_id = _id(request)
    text = str((await request.post()).get("text", "")).strip()
    if not text or len(text) > MAX_REPLY:
        return refuse(request, f"Câu trả lời cần có nội dung và không quá {MAX_REPLY} ký tự.", status=400)
    item = await view.handovers.get(handover_id)
    if item is None:  # another commune's number: as if there were none
        raise web.HTTPNotFound()
    if not await view.handovers.reply(handover_id, _staff(request), text):
        raise _to(request, f"/inbox/{handover_id}?ok=gone")
    await view.audit.record(
        _staff(request), "handover.reply", str(handover_id), commune=await _commune_of(_bo(request), view, item)
    )
    raise _to(request, f"/inbox/{handover_id}?ok=replied")


async def handover_close(request: web.Request) -> web.Response:
    """Close a hand-over without (another) reply."""
    view = _view(request)
    handover_id = _id(request)
    item = await view.handovers.get(handover_id)
    if item is None:
        raise web.HTTPNotFound()
    if not await view.handovers.close_handover(handover_id, _staff(request)):
        raise _to(request, f"/inbox/{handover_id}?ok=gone")
    await view.audit.record(
        _staff(request), "handover.close", str(handover_id), commune=await _commune_of(_bo(request), view, item)
    )
    raise _to(request, "/inbox?ok=closed")


async def _commune_of(bo: Backoffice, view: View, item: Any) -> str:
    """The commune an audit entry about hand-over ``item`` belongs to: the view's, or
    for a provincial administrator looking at every commune the one whose view has it
    (so that commune's staff see it in their log)."""
    if not view.everywhere:
        return view.commune
    for commune in bo.communes:
        if await bo.view(commune).handovers.get(item.id) is not None:
            return commune
    return view.commune


# --- missed questions ----------------------------------------------------------------


_REASONS = {"refused": "không trả lời được", "unsure": "trợ lý chưa chắc", "down": "bị chấm chưa đúng"}


def _procedure_choices(request: web.Request) -> list[tuple[str, str]]:
    catalogue = _bo(request).app.catalogue
    return sorted(((p.id, p.title) for p in catalogue if not p.is_referral), key=lambda c: c[1])


@page("missed.html")
async def missed_page(request: web.Request) -> dict[str, Any]:
    """Missed questions grouped by similarity, each with the add-as-alias form."""
    bo = _bo(request)
    groups = await _view(request).missed.groups(date.today() - timedelta(days=30), limit=50)
    catalogue = bo.app.catalogue
    titles = {p.id: p.title for p in catalogue}
    return {
        "title": "Câu chưa trả lời được", "groups": groups,
        "choices": _procedure_choices(request), "titles": titles,
        "max_alias": MAX_ALIAS, "reasons": _REASONS, "can_alias": _edits_base(request),
    }


async def missed_alias(request: web.Request) -> web.Response:
    """Add a missed question as an alias of a procedure, then reload the catalogue."""
    bo = _bo(request)
    if not _edits_base(request):  # the base catalogue is the province's to change
        raise web.HTTPForbidden()
    form = await request.post()
    procedure_id = str(form.get("procedure", ""))
    text = " ".join(str(form.get("text", "")).split())
    if bo.app.catalogue.get(procedure_id) is None:
        return refuse(request, "Vui lòng chọn một thủ tục trong danh sách.", status=400)
    if not text or len(text) > MAX_ALIAS:
        return refuse(request, f"Cách hỏi cần có nội dung và không quá {MAX_ALIAS} ký tự.", status=400)
    async with bo.catalogue_lock:
        try:
            await asyncio.to_thread(add_alias, bo.app.config.catalogue.dir, procedure_id, text)
        except AliasError as exc:
            return refuse(request, f"Không thêm được cách hỏi: {exc}", status=400)
        failed = await _reload_after_edit(request, "Đã thêm cách hỏi")
        if failed is not None:
            return failed
    await _view(request).audit.record(_staff(request), "alias.add", procedure_id, text)
    raise _to(request, "/missed?ok=alias")


# --- procedures, sync runs, followers, channels --------------------------------------


@page("procedures.html")
async def procedures_page(request: web.Request) -> dict[str, Any]:
    """The catalogue with its review dates; stale entries and drafts flagged."""
    bo = _bo(request)
    rows = procedure_rows(bo.app.catalogue, bo.app.config.catalogue.dir, date.today())
    return {
        "title": "Thủ tục", "rows": rows, "editable": bool(request[SESSION].provincial),
        "local": _overlay_dir(request) is not None,
        "stale": sum(r.stale for r in rows), "drafts": sum(r.draft for r in rows),
    }


def _dossier_commune(request: web.Request) -> str | None:
    """The commune filter of the dossier store's reads: None for every commune (a
    provincial view, or a one-commune install), else the view's commune."""
    commune = _view(request).commune
    return None if commune == PROVINCE or not _bo(request).communes else commune


@page("sync.html")
async def sync_page(request: web.Request) -> dict[str, Any]:
    """The latest dossier sync runs with their counts (a commune's: its own figures)."""
    runs = await _bo(request).app.store.sync_runs(limit=30, commune=_dossier_commune(request))
    return {"title": "Nạp dữ liệu hồ sơ", "runs": runs}


@page("followers.html")
async def followers_page(request: web.Request) -> dict[str, Any]:
    """Followers per dossier status (of the view's commune)."""
    rows = await _bo(request).app.store.follower_counts(commune=_dossier_commune(request))
    return {"title": "Người theo dõi hồ sơ", "rows": rows, "total": sum(r.followers for r in rows)}


@page("channels.html")
async def channels_page(request: web.Request) -> dict[str, Any]:
    """Telegram and Zalo: configured, served, usage against the Zalo plan. The channels
    are the province's, shared by every commune: their figures are shown to a
    provincial administrator (and in a one-commune install), not to a commune's staff."""
    bo = _bo(request)
    running = bo.running_channels() if bo.running_channels is not None else None
    figures = bool(request[SESSION].provincial) or not bo.communes
    rows = await channel_health(bo.app.store, bo.app.config, running, datetime.now())
    return {"title": "Tình trạng kênh", "rows": rows, "figures": figures}


# --- the base catalogue (provincial administrators) ----------------------------------


def _base_procedure(request: web.Request) -> Any:
    """The base catalogue's procedure of the URL (its file under the catalogue folder),
    for a provincial administrator; 404 for anything else."""
    _provincial(request)
    bo = _bo(request)
    proc = bo.app.catalogue.get(request.match_info["id"])
    if proc is None or proc.is_referral or proc.path is None:
        raise web.HTTPNotFound()
    base = bo.app.config.catalogue.dir.resolve()
    if not proc.path.resolve().is_relative_to(base):
        raise web.HTTPNotFound()
    return proc


def _facts_page(request: web.Request, proc: Any, values: dict[str, str], version: str,
                error: str = "", status: int = 200) -> web.Response:
    return render(request, "facts.html", {
        "title": f"Sửa thủ tục: {proc.title}", "proc": proc, "values": values, "version": version,
        "error": error, "labels": {key: facts.label(key) for key in facts.KEYS},
        "local": False, "own": [], "action": f"/catalogue/{proc.id}",
        "file": proc.path.resolve().relative_to(_bo(request).app.config.catalogue.dir.resolve()).as_posix(),
        "max_text": facts.MAX_TEXT,
    }, status)


def _form_values(current: facts.Facts) -> dict[str, str]:
    return {
        "documents": "\n".join(current.documents), "time": current.time, "fee": current.fee,
        "notes": "\n".join(current.notes),
        "reviewed": current.reviewed.strftime("%d/%m/%Y") if current.reviewed != date.min else "",
    }


async def facts_page(request: web.Request) -> web.Response:
    """The form with the facts staff most often change, as the file has them now."""
    proc = _base_procedure(request)
    try:
        current, version = await asyncio.to_thread(facts.read_facts, proc.path)
    except facts.FactsError as exc:
        return refuse(request, str(exc), status=500)
    return _facts_page(request, proc, _form_values(current), version)


async def facts_save(request: web.Request) -> web.Response:
    """Save the facts into the base catalogue's file (only the changed lines), validate
    the catalogue (restoring the file when it does not), reload it and log the edit."""
    bo = _bo(request)
    proc = _base_procedure(request)
    form = await request.post()
    typed = {key: str(form.get(key, "")) for key in facts.KEYS}
    version = str(form.get("version", ""))
    try:
        wanted = facts.parse_form(typed, date.today())
    except facts.FactsError as exc:
        return _facts_page(request, proc, typed, version, str(exc), status=400)
    async with bo.catalogue_lock:
        try:
            keys = await asyncio.to_thread(
                facts.edit_facts, proc.path, bo.app.config.catalogue.dir, proc.id, wanted, expected=version
            )
        except facts.FactsError as exc:
            return _facts_page(request, proc, typed, version, str(exc), status=400)
        if not keys:
            raise _to(request, f"/catalogue/{proc.id}?ok=unchanged")
        failed = await _reload_after_edit(request, "Đã lưu")
        if failed is not None:
            return failed
    await _view(request).audit.record(
        _staff(request), "catalogue.edit", proc.id, ", ".join(facts.label(k) for k in keys), commune=PROVINCE
    )
    raise _to(request, f"/catalogue/{proc.id}?ok=edited")


# --- a commune's local facts (its catalogue overlay) ---------------------------------


def _overlay_dir(request: web.Request) -> Path | None:
    """The catalogue overlay folder of the account's commune (None: it has none, or the
    account is the province's)."""
    bo = _bo(request)
    if request[SESSION].provincial or not bo.communes:
        return None
    folder = overlay_of(bo.app.config, _view(request).commune)
    return folder if folder is not None and folder.is_dir() else None


def _local_procedure(request: web.Request) -> tuple[Any, Path]:
    overlay = _overlay_dir(request)
    if overlay is None:
        raise web.HTTPNotFound()
    proc = _bo(request).app.catalogue.get(request.match_info["id"])
    if proc is None or proc.is_referral or proc.path is None:
        raise web.HTTPNotFound()
    return proc, overlay


async def local_facts_page(request: web.Request) -> web.Response:
    """The form with the facts the commune serves for a base procedure (its own where
    its overlay has them)."""
    proc, overlay = _local_procedure(request)
    try:
        base, _ = await asyncio.to_thread(facts.read_facts, proc.path)
        current, own, version = await asyncio.to_thread(facts.read_local_facts, overlay, proc.id, base)
    except facts.FactsError as exc:
        return refuse(request, str(exc), status=500)
    return _local_page(request, proc, _form_values(current), version, own)


def _local_page(request: web.Request, proc: Any, values: dict[str, str], version: str, own: list[str],
                error: str = "", status: int = 200) -> web.Response:
    return render(request, "facts.html", {
        "title": f"Thông tin riêng của xã: {proc.title}", "proc": proc, "values": values, "version": version,
        "error": error, "labels": {key: facts.label(key) for key in facts.KEYS}, "max_text": facts.MAX_TEXT,
        "local": True, "own": [facts.label(key) for key in own], "action": f"/overlay/{proc.id}", "file": "",
    }, status)


async def local_facts_save(request: web.Request) -> web.Response:
    """Save the commune's own facts into its overlay (never the base), validate the
    commune's catalogue (restoring the file when it does not), reload, log the edit."""
    bo = _bo(request)
    proc, overlay = _local_procedure(request)
    form = await request.post()
    typed = {key: str(form.get(key, "")) for key in facts.KEYS}
    version = str(form.get("version", ""))
    async with bo.catalogue_lock:
        try:
            base, _ = await asyncio.to_thread(facts.read_facts, proc.path)
            own = (await asyncio.to_thread(facts.read_local_facts, overlay, proc.id, base))[1]
        except facts.FactsError as exc:
            return refuse(request, str(exc), status=500)
        try:
            wanted = facts.parse_form(typed, date.today())
            keys = await asyncio.to_thread(
                facts.edit_local_facts, overlay, bo.app.config.catalogue.dir, proc.id, base, wanted, expected=version
            )
        except facts.FactsError as exc:
            return _local_page(request, proc, typed, version, own, str(exc), status=400)
        if not keys:
            raise _to(request, f"/overlay/{proc.id}?ok=unchanged")
        failed = await _reload_after_edit(request, "Đã lưu")
        if failed is not None:
            return failed
    await _view(request).audit.record(
        _staff(request), "overlay.edit", proc.id, ", ".join(facts.label(k) for k in keys)
    )
    raise _to(request, f"/overlay/{proc.id}?ok=edited")


# --- announcements -------------------------------------------------------------------


@page("notices.html")
async def notices_page(request: web.Request) -> dict[str, Any]:
    """Announcements: the form to post one, and every one with its expiry."""
    notices = await _view(request).notices.all()
    now = datetime.now(VIETNAM)
    default_until = (now + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    return {
        "title": "Thông báo", "notices": notices, "now": now,
        "default_until": default_until.strftime("%Y-%m-%dT%H:%M"),
        "max_notice": MAX_NOTICE,
    }


async def notice_post(request: web.Request) -> web.Response:
    """Post an announcement shown in replies until it expires (Vietnam's time)."""
    view = _view(request)
    form = await request.post()
    text = " ".join(str(form.get("text", "")).split())
    if not text or len(text) > MAX_NOTICE:
        return refuse(request, f"Thông báo cần có nội dung và không quá {MAX_NOTICE} ký tự.", status=400)
    try:
        until = datetime.fromisoformat(str(form.get("until", ""))).replace(tzinfo=VIETNAM)
    except ValueError:
        return refuse(request, "Vui lòng nhập ngày giờ hết hạn hợp lệ.", status=400)
    if until <= datetime.now(VIETNAM):
        return refuse(request, "Thời điểm hết hạn phải ở sau bây giờ.", status=400)
    try:
        notice_id = await view.notices.post(text, until, _staff(request))
    except NoticeError:
        return refuse(request, "Không đăng được thông báo này; vui lòng kiểm tra nội dung và thời hạn.", status=400)
    await view.audit.record(_staff(request), "notice.post", str(notice_id), f"đến {until:%d/%m/%Y %H:%M}")
    raise _to(request, "/notices?ok=posted")


async def notice_remove(request: web.Request) -> web.Response:
    """Take an announcement down."""
    view = _view(request)
    notice_id = _id(request)
    if not await view.notices.remove(notice_id, _staff(request)):
        raise web.HTTPNotFound()  # none such up in this commune
    await view.audit.record(_staff(request), "notice.remove", str(notice_id))
    raise _to(request, "/notices?ok=removed")


@page("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    """The audit log, newest first."""
    view = _view(request)
    entries = await view.audit.recent(limit=300)
    names = {**_bo(request).communes, "*": "Toàn tỉnh"}
    return {"title": "Nhật ký thao tác", "entries": entries, "names": names, "everywhere": view.everywhere}


async def _not_found(request: web.Request) -> web.Response:
    return refuse(request, "Không tìm thấy trang này.", status=404)


@web.middleware
async def errors_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Vietnamese pages for 404 and 413; an unexpected error is logged by type only."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return await _not_found(request)
    except web.HTTPForbidden:
        return refuse(request, "Trang này chỉ dành cho cán bộ quản trị của tỉnh.", status=403)
    except web.HTTPRequestEntityTooLarge:
        return refuse(request, "Nội dung gửi lên quá lớn.", status=413)
    except web.HTTPException:
        raise
    except Exception as exc:
        log.error("back office: %s on %s %s", type(exc).__name__, request.method, request.path)
        return refuse(request, "Đã có lỗi. Vui lòng thử lại sau ít phút.", status=500)


def create_app(bo: Backoffice) -> web.Application:
    """The back office's web application for ``bo``."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[errors_middleware, session_middleware, csrf_middleware],
    )
    app[BACKOFFICE] = bo
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("bot.backoffice", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
    )
    env.filters["vn_datetime"] = vn_datetime
    env.filters["vn_number"] = vn_number
    env.globals["status_label"] = lambda s: Status(s).label
    app.on_response_prepare.append(add_headers)
    app.router.add_static("/static/", path=str(_STATIC), name="static", append_version=True)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", overview_page)
    app.router.add_get("/province", province_page)
    app.router.add_get("/inbox", inbox_page)
    app.router.add_get("/inbox/{id}", handover_page)
    app.router.add_post("/inbox/{id}/reply", handover_reply)
    app.router.add_post("/inbox/{id}/close", handover_close)
    app.router.add_get("/missed", missed_page)
    app.router.add_post("/missed/alias", missed_alias)
    app.router.add_get("/procedures", procedures_page)
    app.router.add_get("/catalogue/{id}", facts_page)
    app.router.add_post("/catalogue/{id}", facts_save)
    app.router.add_get("/overlay/{id}", local_facts_page)
    app.router.add_post("/overlay/{id}", local_facts_save)
    app.router.add_get("/sync", sync_page)
    app.router.add_get("/followers", followers_page)
    app.router.add_get("/channels", channels_page)
    app.router.add_get("/notices", notices_page)
    app.router.add_post("/notices", notice_post)
    app.router.add_post("/notices/{id}/remove", notice_remove)
    app.router.add_get("/audit", audit_page)
    return app


_STATIC = Path(__file__).resolve().parent / "static"


async def serve(bo: Backoffice, stop: asyncio.Event, *, ready: Callable[[int], None] | None = None) -> None:
    """Serve the back office on the configured address until ``stop`` is set; ``ready``
    gets the port actually bound (useful with port 0)."""
    runner = web.AppRunner(create_app(bo), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, bo.config.listen, bo.config.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else bo.config.port  # type: ignore[union-attr]
        if ready is not None:
            ready(port)
        await stop.wait()
    finally:
        await runner.cleanup()


async def serve_beside(app: Any, config: Any, stop: asyncio.Event, running: Callable[[], set[str]]) -> None:
    """Serve the back office inside ``motcua run`` (``running`` names the channels
    served) until ``stop`` is set; a failure to start is logged, the channels go on."""
    try:
        bo = await Backoffice.open(config, app, running_channels=running)
    except Exception as exc:
        log.error("back office not started: %s", exc)
        return
    try:
        await serve(bo, stop, ready=lambda port: print(
            f"motcua: back office on http://{config.listen}:{port}/", file=sys.stderr))
    except OSError as exc:
        log.error("back office not started: %s:%d: %s", config.listen, config.port, exc.strerror)
    finally:
        await bo.close()
