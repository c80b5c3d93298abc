"""The bot under load for ``bench/bench_province.py``: ``motcua run --workers N`` as a
subprocess (its own session, so the bench can stop all it started), readiness, killing
one worker, and ``motcua sync`` runs."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def motcua_command() -> list[str]:
    """The ``motcua`` command of this Python environment."""
    script = Path(sys.executable).with_name("motcua")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from bot.cli import main; main()"]


@functools.cache
def supports_workers() -> bool:
    """Whether this ``motcua run`` has ``--workers``."""
    done = subprocess.run([*motcua_command(), "run", "--help"], capture_output=True, text=True)
    return "--workers" in done.stdout


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(name))
    return sorted(found)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class SyncRun:
    """One ``motcua sync``: seconds, exit status and its report's lines."""

    seconds: float
    status: int
    lines: list[str]


async def sync(config: Path, source: Path, env: dict[str, str]) -> SyncRun:
    """Run ``motcua --config CONFIG sync SOURCE`` and time it."""
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        *motcua_command(), "--config", str(config), "sync", str(source),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    out, _ = await child.communicate()
    lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
    return SyncRun(time.perf_counter() - started, child.returncode or 0, lines)


class Bot:
    """``motcua run`` (with ``--workers N`` when the command has it) as a subprocess."""

    def __init__(self, config: Path, workers: int, log_path: Path, env: dict[str, str]) -> None:
        self.config = config
        self.workers = workers
        self.log_path = log_path
        self.env = env
        self.supervised = supports_workers()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    def command(self) -> list[str]:
        """The command line started."""
        run = [*motcua_command(), "--config", str(self.config), "run"]
        return [*run, "--workers", str(self.workers)] if self.supervised else run

    async def start(self, ports: list[int], ready: Callable[[], bool], timeout: float = 180.0) -> None:
        """Start it and wait until every port accepts connections and ``ready()`` holds."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"motcua run exited with {self.process.returncode}:\n{self.log_tail()}")
            if all(_accepts(p) for p in ports) and ready() and (not self.supervised or len(self.worker_pids()) >= self.workers):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"motcua run not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The worker processes (the supervisor's children), or the process itself
        when it serves alone."""
        assert self.process is not None
        return children(self.process.pid) if self.supervised else [self.process.pid]

    def kill_worker(self) -> int:
        """SIGKILL one worker; its pid."""
        pids = self.worker_pids()
        if not pids:
            raise RuntimeError("no worker to kill")
        victim = pids[len(pids) // 2]
        os.kill(victim, signal.SIGKILL)
        return victim

    async def restart_after_kill(self, victim: int, ports: list[int], ready: Callable[[], bool], timeout: float = 120.0) -> float | None:
        """Seconds until a worker replaced ``victim`` (the supervisor restarts it; a bot
        without workers is started again here, as systemd would); None if none did."""
        started = time.perf_counter()
        if not self.supervised:
            assert self.process is not None
            self.process.wait()
            self._log.close()
            await self.start(ports, ready, timeout)
            return time.perf_counter() - started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if victim not in pids and len(pids) >= self.workers:
                return time.perf_counter() - started
            await asyncio.sleep(0.1)
        return None

    async def stop(self, timeout: float = 200.0) -> int | None:
        """SIGTERM and wait (SIGKILL to its session after ``timeout``); the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        try:  # workers left behind by a supervisor that died
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._log is not None:
            self._log.close()
        self.process = None
        return process.returncode

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
