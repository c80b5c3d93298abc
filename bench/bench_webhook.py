"""Benchmark of the Telegram webhook under oversized pushes: memory and time to refuse.

Starts a webhook server in a child process and has C clients (default 8) each push a
body of M megabytes (default 95) at it, once with a wrong secret and once with the right
secret, then prints the child's peak memory (RSS) and how long the clients took. Two
servers are measured in the same run:

* ``ours``: the bot's own server (bot/channels/webhook.py): the secret is checked
  before the body is read, bodies over 1 MB refused;
* ``ptb``: python-telegram-bot's tornado webhook server (the baseline: what the bot
  used before), which reads bodies of up to 100 MB before checking the secret.

    .venv/bin/python bench/bench_webhook.py [--clients C] [--megabytes M]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-Secret_0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/hook"


# -- the child: one server ---------------------------------------------------------------


async def _serve(kind: str, port: int) -> None:
    logging.disable(logging.CRITICAL)  # the refusals' log lines are not the figures
    queue: asyncio.Queue = asyncio.Queue()
    if kind == "ours":
        from bot.channels.webhook import WebhookServer

        async def handler(data: object) -> int:
            await queue.put(data)
            return 200

        server = WebhookServer(channel="bench", path=PATH, secret_header=HEADER, secret=SECRET, handler=handler)
        await server.start("127.0.0.1", port)
    else:
        from telegram import Bot
        from telegram.ext._utils.webhookhandler import WebhookAppClass, WebhookServer as PtbServer

        app = WebhookAppClass(PATH, Bot("1:bench"), queue, secret_token=SECRET)
        ptb = PtbServer("127.0.0.1", port, app, None)
        ready = asyncio.Event()
        asyncio.create_task(ptb.serve_forever(ready))
        await ready.wait()
    print("ready", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    print("peak", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)


# -- the parent: the clients -------------------------------------------------------------


def _push(port: int, megabytes: int, secret: str) -> None:
    """Push one oversized body; stop when the server answers or closes."""
    size = megabytes * 1024 * 1024
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n{HEADER}: {secret}\r\n\r\n"
    )
    chunk = b" " * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(60)
        try:
            sock.sendall(head.encode())
            for _ in range(megabytes):
                sock.sendall(chunk)
            sock.recv(100)
        except OSError:
            pass  # refused and closed early: what we want


async def _measure(kind: str, clients: int, megabytes: int) -> tuple[float, float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    start_rss = int(child.stdout.readline().split()[1]) / 1024
    started = time.perf_counter()
    for secret in ("wrong-secret", SECRET):
        await asyncio.gather(*(asyncio.to_thread(_push, port, megabytes, secret) for _ in range(clients)))
    seconds = time.perf_counter() - started
    child.stdin.write("report\n")
    child.stdin.flush()
    peak_rss = int(child.stdout.readline().split()[1]) / 1024
    child.stdin.close()
    child.wait(timeout=30)
    return start_rss, peak_rss, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--megabytes", type=int, default=95)
    parser.add_argument("--serve", choices=("ours", "ptb"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.port))
        return
    print(f"{args.clients} clients x {args.megabytes} MB, wrong secret then right secret:")
    print(f"{'server':<44} {'RSS at start':>12} {'peak RSS':>10} {'time':>8}")
    for kind, label in (("ptb", "python-telegram-bot webhook (baseline)"), ("ours", "motcua webhook server")):
        start, peak, seconds = asyncio.run(_measure(kind, args.clients, args.megabytes))
        print(f"{label:<44} {start:>9.0f} MB {peak:>7.0f} MB {seconds:>7.2f}s")


if __name__ == "__main__":
    main()
