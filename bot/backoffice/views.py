"""What the back office's read-only pages show, computed from the bot's data: the
procedures and drafts, the channels' health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.channels.usage import THRESHOLDS, crossed, month_of
from bot.config import Config
from bot.dossiers.statuses import Status
from bot.dossiers.store import Store
from bot.procedures.catalogue import Catalogue
from bot.report import channels_section

#: A procedure not reviewed for this long is flagged.
STALE_AFTER = timedelta(days=365)
#: Drafts larger than this are listed by file name only (never parsed whole).
_MAX_DRAFT_BYTES = 512 * 1024


@dataclass(frozen=True)
class ProcedureRow:
    """One line of the procedures page."""

    id: str
    name: str
    field: str
    reviewed: date | None
    stale: bool
    draft: bool
    referral: bool
    file: str


def procedure_rows(catalogue: Catalogue, catalogue_dir: Path, today: date) -> list[ProcedureRow]:
    """Every loaded entry (flagged when not reviewed for 12 months) and every draft in
    ``drafts/`` (not loaded by the bot), drafts and stale entries first."""
    rows = []
    for proc in catalogue:
        rows.append(ProcedureRow(
            proc.id, proc.title, proc.field, proc.reviewed, today - proc.reviewed > STALE_AFTER,
            False, proc.is_referral, _relative(proc.path, catalogue_dir),
        ))
    rows.extend(draft_rows(catalogue_dir))
    rows.sort(key=lambda r: (not r.draft, not r.stale, r.field, r.name))
    return rows


def draft_rows(catalogue_dir: Path) -> list[ProcedureRow]:
    """The drafts written by ``motcua import`` and awaiting review."""
    rows = []
    for path in sorted((catalogue_dir / "drafts").rglob("*.yaml")):
        data: Any = None
        try:
            if path.stat().st_size <= _MAX_DRAFT_BYTES:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            data = None
        data = data if isinstance(data, dict) else {}
        reviewed = data.get("reviewed")
        rows.append(ProcedureRow(
            str(data.get("id") or path.stem), str(data.get("name") or path.stem), str(data.get("field") or ""),
            reviewed if isinstance(reviewed, date) else None, False, True, False,
            _relative(path, catalogue_dir),
        ))
    return rows


def _relative(path: Path | None, base: Path) -> str:
    if path is None:
        return ""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


@dataclass(frozen=True)
class Level:
    """A share of a plan's limit and how worrying it is."""

    used: int
    limit: int
    percent: int
    #: "", "70", "85", "95" or "100": the highest warning threshold reached.
    warning: str

    @property
    def css(self) -> str:
        """The CSS class of the warning (ok, warn, high, full)."""
        return {"": "ok", "70": "warn", "85": "high", "95": "high", "100": "full"}[self.warning]


def level(used: int, limit: int) -> Level:
    """``used`` of ``limit`` with its warning level (no limit: never a warning)."""
    reached = crossed(used, limit)
    warning = str(round(reached * 100)) if reached else ""
    percent = 100 * used // limit if limit > 0 else 0
    return Level(used, limit, percent, warning)


@dataclass(frozen=True)
class ChannelHealth:
    """One channel on the health page."""

    name: str
    configured: bool
    #: True/False when this process serves channels, None when the back office runs alone.
    running: bool | None
    sent: int
    pending: int
    failed: int
    quota: Level | None = None
    users: Level | None = None


async def channel_health(
    store: Store, config: Config, running: set[str] | None, now: datetime
) -> list[ChannelHealth]:
    """Telegram's and Zalo's state: configured, served, messages this month, the Zalo
    plan's quota and users, follow notifications waiting or failed."""
    section = await channels_section(store, config, month_of(now))
    result = []
    for name in ("telegram", "zalo"):
        info = section[name]
        outbox = await store.outbox_counts(name)
        configured = bool(info["configured"])
        result.append(ChannelHealth(
            name="Telegram" if name == "telegram" else "Zalo",
            configured=configured,
            running=None if running is None else name in running,
            sent=info["sent"],
            pending=outbox.get("pending", 0) + outbox.get("sending", 0),
            failed=outbox.get("failed", 0),
            quota=level(info["sent"], info["quota"]) if name == "zalo" else None,
            users=level(info["users"], info["max_users"]) if name == "zalo" else None,
        ))
    return result


WARNING_STEPS = tuple(round(t * 100) for t in THRESHOLDS)
