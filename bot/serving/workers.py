"""``motcua run --workers N``: N worker processes behind the channels' webhook ports.

The parent checks the configuration (webhook mode on every configured channel, and
PostgreSQL for more than one worker), then starts each worker as a subprocess
(``python -m bot.cli ... run --worker-index I``) and supervises them: a worker that dies
is started again (after a pause that grows while it keeps dying), and SIGTERM or SIGINT
stops them all (SIGTERM, then SIGKILL for one that has not stopped in time).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Config
from bot.errors import MotcuaError
from bot.serving.limits import check_rate_limits

log = logging.getLogger(__name__)

#: The environment variable the parent hands a generated Telegram webhook secret in
#: (every worker must register and check the same one).
TELEGRAM_SECRET_ENV = "MOTCUA_WORKERS_TELEGRAM_SECRET"
#: Seconds a stopping worker is given before it is killed.
STOP_TIMEOUT = 30.0


def check_workers(config: Config, workers: int) -> None:
    """Raise MotcuaError (one line saying what to set) when ``config`` cannot be served
    by ``workers`` processes."""
    if workers < 1:
        raise MotcuaError("--workers: expected a number of worker processes, 1 or more")
    telegram, zalo = config.channels.telegram, config.channels.zalo
    served = [(name, ch) for name, ch in (("telegram", telegram), ("zalo", zalo)) if ch is not None and ch.token]
    if not served:
        raise MotcuaError(
            "no channel configured: set channels.telegram.token and/or channels.zalo.token "
            "in the config file (see config.example.yaml)"
        )
    for name, channel in served:
        if not channel.webhook.url:
            raise MotcuaError(
                f"--workers: set channels.{name}.webhook.url (workers receive updates by webhook; "
                "long polling allows one receiver per bot)"
            )
        check_rate_limits(channel.rate_limits, f"channels.{name}.rate_limits")
    if workers > 1 and not config.database.url:
        raise MotcuaError(
            f"--workers {workers}: set database.url (postgresql://...): several workers share the "
            "inbox, conversations and counters in PostgreSQL (one SQLite file serves --workers 1)"
        )


def worker_command(options: Sequence[str], index: int) -> list[str]:
    """The command line of worker ``index`` (``options``: the global options given)."""
    return [sys.executable, "-m", "bot.cli", *options, "run", "--worker-index", str(index)]


def global_options(config_path: Path | None, catalogue: Path | None, db: Path | None, verbose: bool) -> list[str]:
    """The global ``motcua`` options to hand to each worker."""
    options: list[str] = []
    if config_path is not None:
        options += ["--config", str(config_path.resolve())]
    if catalogue is not None:
        options += ["--catalogue", str(catalogue.resolve())]
    if db is not None:
        options += ["--db", str(db.resolve())]
    if verbose:
        options.append("-v")
    return options


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0


@dataclass
class Supervisor:
    """Starts and watches the worker processes (``poll`` seconds between looks)."""

    commands: list[list[str]]
    env: dict[str, str]
    poll: float = 0.2
    stopping: bool = False
    #: Set when a worker ended with status 2 (an operator error it printed): restarting
    #: it would only repeat the error.
    operator_error: bool = False
    slots: list[_Slot] = field(default_factory=list)

    def start(self) -> None:
        """Start every worker."""
        self.slots = [_Slot(i) for i in range(len(self.commands))]
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(self.commands[slot.index], env=self.env)
        slot.started = time.monotonic()

    def check(self) -> None:
        """Start again each worker that died (not while stopping)."""
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and process.poll() is not None and not self.stopping:
                status = process.returncode
                if status == 2:
                    self.operator_error = True
                    return
                slot.failures = slot.failures + 1 if now - slot.started < 30 else 1
                delay = min(30.0, 0.5 * 2 ** (slot.failures - 1))
                _say(
                    f"motcua: worker {slot.index} (pid {process.pid}) ended with status {status}; "
                    f"starting it again in {delay:.1f}s"
                )
                slot.process, slot.restart_at = None, now + delay
            if slot.process is None and not self.stopping and now >= slot.restart_at:
                self._spawn(slot)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every worker: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.stopping = True
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers, by index."""
        return [s.process.pid for s in self.slots if s.process is not None]


async def prepare(config: Config) -> None:
    """Open every database once (creating and migrating their tables) before the
    workers start, so they do not race to create them; raises what App.open raises."""
    from bot.app import App
    from bot.serving.schema import migrate
    from bot.storage import open_database

    app = await App.open(config)
    try:
        db = await open_database(config.database.path, config.database.url)
        try:
            await migrate(db)
        finally:
            await db.close()
    finally:
        await app.close()


def run_workers(config: Config, workers: int, options: Sequence[str]) -> int:
    """Serve with ``workers`` processes until SIGTERM or SIGINT; the exit status."""
    import asyncio

    check_workers(config, workers)
    asyncio.run(prepare(config))
    env = dict(os.environ)
    telegram = config.channels.telegram
    if telegram is not None and telegram.token and not telegram.webhook.secret_token:
        env.setdefault(TELEGRAM_SECRET_ENV, secrets.token_urlsafe(32))
    supervisor = Supervisor([worker_command(options, i) for i in range(workers)], env)
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        supervisor.start()
        _say(f"motcua: {workers} worker(s) started; Ctrl+C to stop")
        while not stopping and not supervisor.operator_error:
            time.sleep(supervisor.poll)
            supervisor.check()
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 2 if supervisor.operator_error else 0


def _say(line: str) -> None:
    """Print one line to stderr in one write (the workers share it)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def worker_config(config: Config) -> Config:
    """A worker's configuration: the parent's, with the Telegram webhook secret it
    generated when none is configured."""
    import dataclasses

    telegram = config.channels.telegram
    secret = os.environ.get(TELEGRAM_SECRET_ENV, "")
    if telegram is None or telegram.webhook.secret_token or not secret:
        return config
    webhook = dataclasses.replace(telegram.webhook, secret_token=secret)
    channels = dataclasses.replace(config.channels, telegram=dataclasses.replace(telegram, webhook=webhook))
    return dataclasses.replace(config, channels=channels)
