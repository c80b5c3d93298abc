"""Noticing catalogue edits while the bot runs (``motcua run``), so that a staff member's
change (a file edited, ``motcua alias add``, the back office) takes effect without a
restart. The check is cheap: the path, size and modification time of every file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.errors import CatalogueError

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(directory: Path | Sequence[Path]) -> Fingerprint:
    """The catalogue files under ``directory`` as (path, size, mtime in ns), sorted; of
    several folders (a base catalogue and communes' overlays), all of them."""
    folders = [directory] if isinstance(directory, Path) else list(directory)
    found = []
    for i, folder in enumerate(folders):
        tag = f"{i}:" if i else ""  # the first folder's paths stay as they were
        for path in folder.rglob("*.yaml"):
            try:
                stat = path.stat()
            except OSError:  # removed while we looked
                continue
            found.append((tag + str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


async def watch(
    directory: Path | Sequence[Path],
    current: Callable[[], Fingerprint],
    reload: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    interval: float,
) -> None:
    """Every ``interval`` seconds until ``stop``, call ``reload`` when the files under
    ``directory`` differ from ``current()`` (the fingerprint of what is served). A
    catalogue that does not validate is logged and the served one kept."""
    failed: Fingerprint | None = None
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except asyncio.TimeoutError:
            pass
        seen = await asyncio.to_thread(fingerprint, directory)
        if seen == current() or seen == failed:
            continue
        try:
            await reload()
            failed = None
            log.info("catalogue reloaded from %s", directory)
        except CatalogueError as exc:
            failed = seen  # said once per broken state, not every interval
            first = "; ".join(exc.problems[:2])
            log.warning(
                "catalogue in %s changed but does not validate (%d problem(s): %s); still serving the previous one",
                directory, len(exc.problems), first,
            )
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive a bad moment
            log.warning("catalogue reload failed: %s", type(exc).__name__)
