"""The guarded HTTP server both channels receive webhook updates on (aiohttp).

A request is refused before its body is read when the secret header is wrong or missing
(403, compared in constant time) or when it announces a body above the cap (413); a
body without a length is read only up to the cap, and one that trickles in is given up
after ``read_timeout`` seconds (408). Refused connections are closed at
once instead of being drained, so a client pushing a huge body costs neither memory nor
the time to read it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

#: Default cap on a webhook body: a message update is a few kilobytes at most.
MAX_BODY_BYTES = 1024 * 1024

#: ``handler(data)`` for a JSON body that passed the checks; returns the HTTP status.
UpdateHandler = Callable[[Any], Awaitable[int]]


def secret_matches(given: str | None, expected: str) -> bool:
    """Whether the header value ``given`` equals ``expected``, in constant time."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class WebhookServer:
    """Serves POSTs at ``path`` on ``listen:port``, passing each checked JSON body to
    ``handler``. ``channel`` names the channel in log lines; ``max_body`` is the cap in
    bytes, ``read_timeout`` the seconds a body may take to arrive."""

    def __init__(
        self,
        *,
        channel: str,
        path: str,
        secret_header: str,
        secret: str,
        handler: UpdateHandler,
        max_body: int = MAX_BODY_BYTES,
        read_timeout: float = 10.0,
        host: WebhookHost | None = None,
    ) -> None:
        self._host = host
        self._attached: tuple[str, int] | None = None
        self._channel = channel
        self._path = path or "/"
        self._header = secret_header
        self._secret = secret
        self._handler = handler
        self._max_body = max_body
        self._read_timeout = read_timeout
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int | None:
        """The port listened on (None when not started)."""
        if self._host is not None:
            return self._host.port_of(*self._attached) if self._attached else None
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def start(self, listen: str, port: int) -> None:
        """Listen on ``listen:port``; raises OSError when the address is taken."""
        if self._host is not None:  # a listener shared with the other channel
            await self._host.attach(listen, port, self._path, self._on_post)
            self._attached = (listen, port)
            return
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post(self._path, self._on_post)
        # lingering_time=0: a refused request's unread body is not drained, the
        # connection is closed instead.
        runner = web.AppRunner(app, access_log=None, lingering_time=0)
        await runner.setup()
        try:
            await web.TCPSite(runner, listen, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening; requests already accepted are finished first."""
        if self._host is not None and self._attached is not None:
            attached, self._attached = self._attached, None
            await self._host.detach(*attached, self._path)
            return
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_post(self, request: web.Request) -> web.Response:
        if not secret_matches(request.headers.get(self._header), self._secret):
            log.warning("%s: webhook request refused: wrong or missing secret token", self._channel)
            return _refuse(request, 403, "forbidden")
        length = request.content_length
        if length is not None and length > self._max_body:
            log.warning("%s: webhook request refused: body of %d bytes is over the limit", self._channel, length)
            return _refuse(request, 413, "too large")
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await _read_capped(request, self._max_body)
        except TimeoutError:
            log.warning("%s: webhook request refused: body not received in time", self._channel)
            return _refuse(request, 408, "too slow")
        if body is None:
            log.warning("%s: webhook request refused: body over the limit", self._channel)
            return _refuse(request, 413, "too large")
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        status = await self._handler(data)
        if status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, text="not an update")


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``cap`` bytes."""
    body = bytearray()
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > cap:
            return None


def _refuse(request: web.Request, status: int, text: str) -> web.Response:
    """A refusal that closes the connection (its body, if any, stays unread)."""
    response = web.Response(status=status, text=text)
    response.force_close()
    return response


#: A path's request handler on a shared listener.
PathHandler = Callable[[web.Request], Awaitable[web.Response]]


class WebhookHost:
    """Listeners shared by the webhook paths of both channels (``motcua run --workers``):
    one per ``listen:port``, dispatching each POST by its path, so both channels can use
    one port. With ``reuse_port`` every worker process listens on the same port
    (SO_REUSEPORT) and the kernel spreads connections among them."""

    def __init__(self, *, reuse_port: bool = False) -> None:
        self._reuse_port = reuse_port
        self._sites: dict[tuple[str, int], tuple[web.AppRunner, dict[str, PathHandler]]] = {}

    def port_of(self, listen: str, port: int) -> int | None:
        """The port actually listened on for ``listen:port`` (None when not listening)."""
        site = self._sites.get((listen, port))
        if site is None or not site[0].addresses:
            return None
        return int(site[0].addresses[0][1])

    async def attach(self, listen: str, port: int, path: str, handler: PathHandler) -> None:
        """Serve POSTs to ``path`` on ``listen:port`` with ``handler`` (listening first
        if needed); raises OSError when the address is taken, ValueError when the path is."""
        key = (listen, port)
        if key not in self._sites:
            routes: dict[str, PathHandler] = {}

            async def dispatch(request: web.Request) -> web.StreamResponse:
                chosen = routes.get(request.path)
                if chosen is None:
                    return _refuse(request, 404, "not found")
                return await chosen(request)

            app = web.Application(client_max_size=MAX_BODY_BYTES)
            app.router.add_route("POST", "/{tail:.*}", dispatch)
            runner = web.AppRunner(app, access_log=None, lingering_time=0)
            await runner.setup()
            try:
                await web.TCPSite(runner, listen, port, reuse_port=self._reuse_port or None).start()
            except BaseException:
                await runner.cleanup()
                raise
            self._sites[key] = (runner, routes)
        routes = self._sites[key][1]
        if path in routes:
            raise ValueError(f"two webhooks on {listen}:{port} at the same path {path}")
        routes[path] = handler

    async def detach(self, listen: str, port: int, path: str) -> None:
        """Stop serving ``path``; the listener closes with its last path."""
        key = (listen, port)
        site = self._sites.get(key)
        if site is None:
            return
        runner, routes = site
        routes.pop(path, None)
        if not routes:
            del self._sites[key]
            await runner.cleanup()
