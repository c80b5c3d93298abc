"""Several communes (tenants) on one bot: each commune's Config, the residents' remembered
commune, and the router that hands each message to its commune's Engine.

A commune is reached by the deep link ``/start <commune-id>`` (Telegram's ``?start=``),
by a full dossier code whose agency segment is the commune's ``status.code_prefix``, by
being one of its hamlet heads, or by choosing once when the bot does not know
("Ông/bà ở xã nào?"), remembered per (channel, user) in the ``residents`` table and
changed with ``/xa``. The engines stay as they are: one per commune, channel-agnostic.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from bot.config import CommuneEntry, Config
from bot.dialogue import Engine, HandoverService, NoticeService, Recorder, StatusService
from bot.dossiers.codes import CodeFinder
from bot.messages import Choice, Incoming, Intent, Reply, Response
from bot.procedures.normalize import fold
from bot.storage import Database, Migration, open_migrated, tenant_guard_sql

log = logging.getLogger(__name__)

#: Choice data of "I am in commune <id>" (fits Telegram's 64-byte callback data).
CHOICE_PREFIX = "xa:"
#: The commands that change the remembered commune.
CHANGE_COMMANDS = ("xa", "doixa")
_COMMAND = re.compile(r"^/([a-z_]+)(?:@\S+)?\s*(.*)$", re.IGNORECASE | re.DOTALL)
#: The reply when a message cannot be routed (no commune is guessed).
ROUTING_FAILED = "Xin lỗi, hệ thống đang bận nên chưa trả lời được. Ông/bà vui lòng gửi lại tin nhắn sau ít phút."
#: Pending questions kept while a resident chooses their commune (bounded memory).
MAX_PENDING = 10_000
#: A pending question older than this is dropped (seconds).
PENDING_SECONDS = 30 * 60

_RESIDENTS = """
    CREATE TABLE residents (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        commune TEXT NOT NULL,
        chosen_at @FLOAT NOT NULL,
        PRIMARY KEY (channel, user_id)
    )
    """
#: ``commune`` is the tenant key: on PostgreSQL a commune's view sees its own residents.
MIGRATIONS: list[Migration] = [
    {"sqlite": _RESIDENTS.replace("@FLOAT", "REAL"), "postgres": _RESIDENTS.replace("@FLOAT", "DOUBLE PRECISION")},
    {"sqlite": "", "postgres": tenant_guard_sql("residents")},
]


def tenant_config(config: Config, entry: CommuneEntry) -> Config:
    """The whole configuration as commune ``entry`` sees it: its own commune block, code
    prefix, office hours, hamlet heads and hand-over group over the shared keys."""
    return dataclasses.replace(
        config,
        commune=entry.commune,
        status=dataclasses.replace(config.status, code_prefix=entry.status.code_prefix),
        office_hours=entry.office_hours or config.office_hours,
        hamlet_heads=list(entry.hamlet_heads),
        handover=entry.handover if entry.handover.telegram_chat_id else config.handover,
        communes=[],
        tenant=entry.id,
    )


def tenant_configs(config: Config) -> dict[str, Config]:
    """Every commune's Config by id, in the order of ``communes:`` (empty for one commune)."""
    return {entry.id: tenant_config(config, entry) for entry in config.communes}


def overlay_of(config: Config, commune_id: str) -> Path | None:
    """The catalogue overlay folder of commune ``commune_id`` (None: the base as it is)."""
    entry = next((e for e in config.communes if e.id == commune_id), None)
    return entry.catalogue.overlay if entry is not None else None


def catalogue_folders(config: Config) -> list[Path]:
    """The folders whose edits change what is served: the base catalogue, then each
    distinct overlay (for the reload watcher)."""
    folders = [config.catalogue.dir]
    for entry in config.communes:
        if entry.catalogue.overlay is not None and entry.catalogue.overlay not in folders:
            folders.append(entry.catalogue.overlay)
    return folders


class ResidentStore:
    """Which commune each (channel, user) chose, in the ``residents`` part of a
    :class:`~bot.storage.Database` (the router's, which sees every commune)."""

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self.db = db
        self._owned = owned

    @classmethod
    async def create(cls, db: Database) -> ResidentStore:
        """The store on the shared ``db`` (its table created or migrated)."""
        await db.migrate("residents", MIGRATIONS)
        return cls(db)

    @classmethod
    async def open(cls, path: Path, url: str | None = None) -> ResidentStore:
        """The store on a database of its own (the SQLite file at ``path``, or PostgreSQL
        at ``url``), closed with it."""
        return cls(await open_migrated(Path(path), url, "residents", MIGRATIONS), owned=True)

    async def get(self, channel: str, user_id: str) -> str | None:
        """The commune id this user chose, or None."""
        row = await self.db.fetchone(
            "SELECT commune FROM residents WHERE channel = ? AND user_id = ?", (channel, user_id)
        )
        return str(row[0]) if row else None

    async def remember(self, channel: str, user_id: str, commune: str) -> None:
        """Remember (or change) the commune of this user."""
        await self.db.run(
            "INSERT INTO residents (channel, user_id, commune, chosen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (channel, user_id) DO UPDATE SET commune = excluded.commune, chosen_at = excluded.chosen_at",
            (channel, user_id, commune, time.time()),
        )

    async def close(self) -> None:
        """Close the database when this store opened it (:meth:`open`)."""
        if self._owned:
            await self.db.close()


class MemoryPending:
    """The questions residents asked before choosing their commune, in memory (bounded;
    :class:`bot.serving.sessions.DatabasePending` keeps them for several workers)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], tuple[float, Incoming]] = {}

    async def has(self, key: tuple[str, str]) -> bool:
        """Whether this (channel, user) has a pending question."""
        return key in self._kept

    async def put(self, key: tuple[str, str], msg: Incoming, *, replace: bool = True) -> None:
        """Keep ``msg``; with ``replace`` False only when nothing is kept for ``key``."""
        now = time.monotonic()
        if len(self._kept) >= MAX_PENDING:
            for old in [k for k, (at, _) in self._kept.items() if now - at > PENDING_SECONDS]:
                del self._kept[old]
            if len(self._kept) >= MAX_PENDING:
                self._kept.pop(next(iter(self._kept)))
        if replace:
            self._kept[key] = (now, msg)
        else:
            self._kept.setdefault(key, (now, msg))

    async def pop(self, key: tuple[str, str]) -> tuple[float, Incoming] | None:
        """Take the pending question of ``key``: (its age in seconds, it), or None."""
        kept = self._kept.pop(key, None)
        return (time.monotonic() - kept[0], kept[1]) if kept is not None else None


@dataclass
class Tenant:
    """One commune being served: its id, Config and Engine."""

    id: str
    config: Config
    engine: Engine


class TenantRouter:
    """Answers messages for several communes: picks the commune's Engine per message.

    Has the Engine's ``handle`` so that channels talk to it as to one Engine."""

    def __init__(self, tenants: Mapping[str, Tenant], residents: ResidentStore, *, recorder: Recorder | None = None) -> None:
        self.tenants = dict(tenants)
        self._residents = residents
        self._recorder = recorder
        first = next(iter(self.tenants.values()))
        self._finder = CodeFinder(first.config.status.code_pattern)  # full codes only
        self._by_prefix = {t.config.status.code_prefix.upper(): t.id for t in self.tenants.values()}
        self._heads = {
            (h.channel, str(h.user_id)): t.id for t in self.tenants.values() for h in t.config.hamlet_heads
        }
        self._names = {fold(t.config.commune.name): t.id for t in self.tenants.values()}
        for t in self.tenants.values():  # "Tân Hòa" for "UBND xã Tân Hòa"
            short = re.sub(r"^(ubnd\s+)?(xa|phuong|thi tran|dac khu)\s+", "", fold(t.config.commune.name))
            self._names.setdefault(short, t.id)
        self._pending: MemoryPending | Any = MemoryPending()

    def use_pending(self, pending: Any) -> None:
        """Keep pending questions in ``pending`` (same methods as :class:`MemoryPending`)."""
        self._pending = pending

    async def close(self) -> None:
        """Close the residents table."""
        await self._residents.close()

    def engine_of(self, commune_id: str) -> Engine | None:
        """The engine of commune ``commune_id``, or None when there is no such commune."""
        tenant = self.tenants.get(commune_id)
        return tenant.engine if tenant is not None else None

    @property
    def engines(self) -> list[Engine]:
        """Every commune's engine."""
        return [t.engine for t in self.tenants.values()]

    async def handle(self, msg: Incoming) -> Response:
        """The response to one message, from the resident's commune. Never raises: when
        the commune cannot be told (the database is busy or away), an apology asking to
        send again, never another commune's answer."""
        try:
            return await self._route(msg)
        except Exception:
            log.exception("routing a message from channel %s failed", msg.channel)
            return Response(Intent.UNKNOWN, [Reply(ROUTING_FAILED)])

    async def _route(self, msg: Incoming) -> Response:
        key = (msg.channel, msg.user_id)
        text = msg.text.strip()
        if msg.choice is not None and msg.choice.startswith(CHOICE_PREFIX):
            return await self._chosen(msg, msg.choice[len(CHOICE_PREFIX):])
        command = _COMMAND.match(text)
        if command:
            name, arg = command.group(1).lower(), command.group(2).strip()
            if name == "start" and arg.lower() in self.tenants:  # t.me/<bot>?start=<commune>
                await self._residents.remember(*key, arg.lower())
                await self._pending.pop(key)
                return await self.tenants[arg.lower()].engine.handle(dataclasses.replace(msg, text="/start"))
            if name in CHANGE_COMMANDS:
                if arg:
                    picked = self._pick(arg)
                    if picked is not None:
                        return await self._chosen(msg, picked)
                await self._keep_pending(key, msg)  # the answer may be typed: "2", "Tân Hòa"
                return await self._own(msg, self._ask())
        if await self._pending.has(key):
            picked = self._typed_pick(text)
            if picked is not None:
                return await self._chosen(msg, picked)
        by_code = self._commune_of_codes(text)
        if by_code is not None:
            return await self.tenants[by_code].engine.handle(msg)
        head = self._heads.get((msg.channel, str(msg.user_id)))
        if head is not None:
            return await self.tenants[head].engine.handle(msg)
        known = await self._residents.get(*key)
        if known in self.tenants:
            return await self.tenants[known].engine.handle(msg)
        if len(self.tenants) == 1:
            return await next(iter(self.tenants.values())).engine.handle(msg)
        await self._keep_pending(key, msg)
        return await self._own(msg, self._ask())

    def _commune_of_codes(self, text: str) -> str | None:
        """The commune whose prefix all the full codes in ``text`` carry, if one."""
        found = {self._by_prefix.get(code.rsplit("-", 2)[0]) for code in self._finder.find(text)}
        return found.pop() if len(found) == 1 and None not in found else None

    def _pick(self, text: str) -> str | None:
        """The commune a typed id or name means, or None."""
        raw = text.strip().lower()
        if raw in self.tenants:
            return raw
        folded = fold(text).strip(" .")
        return self._names.get(re.sub(r"^(ubnd\s+)?(xa|phuong|thi tran|dac khu)\s+", "", folded)) or self._names.get(folded)

    def _typed_pick(self, text: str) -> str | None:
        """After the question: a number from the list, an id or a commune's name."""
        if text.isdigit() and 1 <= int(text) <= len(self.tenants):
            return list(self.tenants)[int(text) - 1]
        return self._pick(text) if text and len(text) <= 80 else None

    async def _keep_pending(self, key: tuple[str, str], msg: Incoming) -> None:
        text = msg.text.strip()
        command = _COMMAND.match(text)
        bare = command is not None and (command.group(1).lower() in CHANGE_COMMANDS or not command.group(2).strip())
        if text and not bare and msg.choice is None:  # answered once the commune is known
            await self._pending.put(key, msg)  # e.g. a question, or "/start 261128-0002" from a QR
        else:
            await self._pending.put(key, dataclasses.replace(msg, text=""), replace=False)

    async def _chosen(self, msg: Incoming, commune: str) -> Response:
        """The resident named their commune: remember it and answer what they asked before."""
        tenant = self.tenants.get(commune)
        if tenant is None:
            return await self._own(msg, self._ask())
        await self._residents.remember(msg.channel, msg.user_id, commune)
        age, earlier = await self._pending.pop((msg.channel, msg.user_id)) or (0.0, None)
        if earlier is not None and earlier.text and age <= PENDING_SECONDS:
            response = await tenant.engine.handle(earlier)
            head = Reply(f"Đã ghi nhận: {tenant.config.commune.name}.")
            return dataclasses.replace(response, replies=[head, *response.replies])
        return await tenant.engine.handle(dataclasses.replace(msg, text="/start", choice=None))

    def _ask(self) -> Reply:
        """"Which commune?" with the communes as choices."""
        choices = tuple(Choice(t.config.commune.name, f"{CHOICE_PREFIX}{t.id}") for t in self.tenants.values())
        return Reply(
            "Ông/bà ở xã nào? Xin chọn một xã bên dưới (hoặc nhắn tên xã); "
            "tôi sẽ nhớ, muốn đổi thì gửi /xa.",
            choices,
        )

    async def _own(self, msg: Incoming, reply: Reply) -> Response:
        response = Response(Intent.HELP, [reply])
        if self._recorder is not None:
            try:
                await self._recorder.record(msg, response)
            except Exception:  # noqa: BLE001 - recording never stops an answer
                log.exception("recording a routed message failed")
        return response


async def open_router(
    config: Config,
    *,
    residents_path: Path,
    status_for: Callable[[Config], StatusService],
    handovers_for: Callable[[Config], HandoverService | None],
    notices: NoticeService | None = None,
    recorder: Recorder | None = None,
    last_good: bool = True,
    database: Database | None = None,
    notices_for: Callable[[Config], NoticeService | None] | None = None,
) -> TenantRouter:
    """A router over every commune of ``config.communes``, each with its own Engine over the
    base catalogue plus its overlay. The normaliser and lexicon are shared by all; so are
    the compiled catalogue and the matcher of communes with the same (or no) overlay.

    Each engine records through ``recorder.for_commune(id)`` when the recorder has it
    (a :class:`bot.staff.recorder.StaffRecorder`), so its rows carry its commune, and
    shows ``notices_for(its config)`` (else ``notices``). The residents' choices live in
    ``database`` when given, else in the SQLite file at ``residents_path``."""
    from bot.procedures.compiled import open_catalogue
    from bot.procedures.lexicon import Lexicon
    from bot.procedures.matcher import Matcher
    from bot.procedures.normalize import Normalizer

    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    shared: dict[Path | None, tuple] = {}
    tenants: dict[str, Tenant] = {}
    for commune_id, own in tenant_configs(config).items():
        overlay = overlay_of(config, commune_id)
        key = overlay.resolve() if overlay is not None else None
        if key not in shared:
            compiled = open_catalogue(config.catalogue.dir, last_good=last_good, overlay=overlay)
            matcher = Matcher(compiled.catalogue, normalizer, lexicon, config.matching, compiled.index)
            shared[key] = (compiled, matcher)
        compiled, matcher = shared[key]
        for_commune = getattr(recorder, "for_commune", None)
        engine = Engine(
            own, compiled.catalogue, normalizer=normalizer, lexicon=lexicon, matcher=matcher,
            status=status_for(own), recorder=for_commune(own.tenant) if for_commune else recorder,
            handovers=handovers_for(own), notices=notices_for(own) if notices_for else notices,
        )
        tenants[commune_id] = Tenant(commune_id, own, engine)
    residents = await (ResidentStore.create(database) if database is not None else ResidentStore.open(residents_path))
    return TenantRouter(tenants, residents, recorder=recorder)


async def reload_router(router: TenantRouter, config: Config) -> None:
    """Load the base catalogue and every overlay again into the communes' engines."""
    import asyncio

    from bot.procedures.compiled import open_catalogue

    loaded: dict[Path | None, object] = {}
    for tenant in router.tenants.values():
        overlay = overlay_of(config, tenant.id)
        key = overlay.resolve() if overlay is not None else None
        if key not in loaded:
            loaded[key] = await asyncio.to_thread(open_catalogue, config.catalogue.dir, overlay=overlay)
    for tenant in router.tenants.values():
        overlay = overlay_of(config, tenant.id)
        compiled = loaded[overlay.resolve() if overlay is not None else None]
        tenant.engine.use_catalogue(compiled.catalogue, compiled.index)  # type: ignore[attr-defined]
