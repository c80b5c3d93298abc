"""Province load benchmark: one bot for 150 communes on PostgreSQL with 4 workers, a
worker killed mid-run, no message, notification or hand-over lost or duplicated.

What it does, all on 127.0.0.1:

1. starts its own PostgreSQL server (tests/pgserver.py; fsync off) with a database owned
   by a role that is not a superuser, and the fake Telegram and Zalo Bot API servers of
   the tests (tests/fakes), which record every message the bot sends;
2. generates a province (bench/province_data.py: the ``communes:`` config and one
   provincial export) and loads the export with ``motcua sync`` (timed);
3. baseline: starts ``motcua run --workers 1`` (both channels in webhook mode, pointed at
   the fakes) and drives residents through the webhooks: real HTTP POSTs with the secret
   header, one message at a time per resident, ``--concurrency`` residents at once;
4. the same mix with other residents against ``motcua run --workers N``, SIGKILLing one
   worker when ``--kill-at`` of the messages are answered (the supervisor restarts it);
5. staff answer every hand-over in their group, and a second sync with changed statuses
   (``province_data``'s changed export) notifies the followers;
6. prints messages/s and p50/p99 latency (POST to the reply arriving at the fake server)
   of both runs side by side, and PASS/FAIL for: every update got exactly one reply, each
   hand-over was posted once to its commune's staff group, each staff answer delivered
   once, each follower of a changed dossier notified once.

Exit status 1 on loss: something due that never arrived, or a duplicate the kill does
not explain. A reply the killed worker had sent in the second before its SIGKILL, but
not yet recorded as sent, is sent again after the lease: such duplicates are counted,
said and make the check FAIL, but not the exit status. On a failed check, the working
folder is kept with ``received.json`` (every chat's updates and messages, timed).

    .venv/bin/python bench/bench_province.py                       # full size
    .venv/bin/python bench/bench_province.py --communes 3 --dossiers 2000 --residents 50 --workers 2

A ``motcua run`` without ``--workers`` is run as one process, and the "kill" then kills
it and starts it again (as systemd would).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench import province_checks as checks  # noqa: E402
from bench.province_bot import Bot, SyncRun, free_port, supports_workers, sync  # noqa: E402
from bench.province_data import Province, write_changed_export, write_province  # noqa: E402
from bench.province_load import (  # noqa: E402
    TELEGRAM_HEADER, ZALO_HEADER, FakeTelegram, FakeZalo, Hook, Load, Received, Residents, percentile,
)
from bench.province_residents import Resident, make_residents  # noqa: E402
from tests.fakes import telegram_api  # noqa: E402
from tests.pgserver import PgServer, find_bindir  # noqa: E402

TELEGRAM_TOKEN = "7000001:bench-telegram-token"
ZALO_TOKEN = "bench-zalo-token"
TELEGRAM_SECRET = "bench-telegram-secret-0123456789"
ZALO_SECRET = "bench-zalo-secret-0123456789"
STAFF_USER = 42_000_001


def staff_chat_id(position: int) -> str:
    """The Telegram staff group of the commune at ``position`` (1-based)."""
    return str(-1_001_000_000_000 - position)


def write_config(province: Province, url: str, telegram: FakeTelegram, zalo: FakeZalo,
                 ports: dict[str, int], per_second: float | None) -> tuple[Path, dict[str, str]]:
    """The bench's config beside the province's (its ``communes:`` list, each commune with
    its staff group), on PostgreSQL, both channels in webhook mode at the fakes, each
    channel's overall send rate ``per_second`` (None: the bot's defaults, Telegram's 30/s
    and Zalo's 20/s); and the staff group of each commune id."""
    config = yaml.safe_load(province.config_path.read_text(encoding="utf-8"))
    staff = {}
    for position, entry in enumerate(config["communes"], 1):
        staff[entry["id"]] = entry.setdefault("handover", {})["telegram_chat_id"] = staff_chat_id(position)
    config["database"] = {"path": "province.sqlite3", "url": url}
    config["catalogue"] = {"reload_seconds": 0}
    config["channels"] = {
        "telegram": {
            "token": "${TELEGRAM_BOT_TOKEN}",
            "base_url": telegram.base_url,
            "webhook": {"url": "https://motcua.example.gov.vn/telegram", "listen": "127.0.0.1",
                        "port": ports["telegram"], "secret_token": "${TELEGRAM_WEBHOOK_SECRET}"},
        },
        "zalo": {
            "token": "${ZALO_BOT_TOKEN}",
            "base_url": zalo.base_url,
            "webhook": {"url": "https://motcua.example.gov.vn/zalo", "listen": "127.0.0.1",
                        "port": ports["zalo"], "secret_token": "${ZALO_WEBHOOK_SECRET}"},
            "monthly_quota": 0,  # a paid plan: no quota notice in the replies
            "max_users": 0,
        },
    }
    if per_second is not None:  # still counted in the database by every send; per-chat limits kept
        for channel in config["channels"].values():
            channel["rate_limits"] = {"per_second": per_second}
    path = province.dir / "bench-config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, staff


def changed_rows(before: Path, after: Path) -> list[int]:
    """The export rows (0-based) whose line differs between two exports of one province."""
    rows = []
    with open(before, encoding="utf-8") as a, open(after, encoding="utf-8") as b:
        next(a), next(b)
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                rows.append(i)
    return rows


def write_dump(path: Path, received: Received, runs: list[Run], people: dict[int, Resident]) -> None:
    """Every chat's updates (text, POST time, messages received before) and the messages
    it received (time, text), times in seconds from the first POST: to see what failed."""
    origin = min((s.posted_at for r in runs for s in r.load.sent), default=0.0)
    chats: dict[str, dict] = {chat: {"received": [[round(t - origin, 3), text] for t, text in got]}
                              for chat, got in received.by_chat.items()}
    for run in runs:
        for sent in run.load.sent:
            resident = people[sent.resident]
            chats.setdefault(resident.user_id, {"received": []}).setdefault("sent", []).append(
                [round(sent.posted_at - origin, 3), sent.before, sent.posts, resident.steps[sent.step].text])
    kills = {r.label: round(r.killed_time - origin, 3) for r in runs if r.killed is not None}
    path.write_text(json.dumps({"killed_at": kills, "chats": chats}, ensure_ascii=False, indent=1), encoding="utf-8")


class Run:
    """One load run against one bot: its figures and the kill."""

    def __init__(self, label: str, workers: int) -> None:
        self.label = label
        self.workers = workers
        self.load = Load()
        self.killed: int | None = None
        self.killed_at = 0
        self.killed_time = 0.0
        self.restart_seconds: float | None = None

    def figures(self) -> dict[str, str]:
        latencies = self.load.latencies()
        messages = len(self.load.sent)
        return {
            "messages": f"{messages:,}",
            "messages/s": f"{messages / self.load.seconds:,.1f}" if self.load.seconds else "-",
            "latency p50": f"{percentile(latencies, 0.5) * 1000:,.0f} ms",
            "latency p99": f"{percentile(latencies, 0.99) * 1000:,.0f} ms",
            "no reply in time": f"{messages - len(latencies):,}",
            "POSTs sent again": f"{self.load.retried:,}",
        }


_STARTED = time.perf_counter()


def _say(text: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:6.1f}s] {text}", file=sys.stderr, flush=True)


async def drive(bot: Bot, run: Run, residents: Residents, people: list[Resident], concurrency: int,
                ports: list[int], ready, kill_at: float | None) -> None:
    """Drive ``people`` through ``bot``; with ``kill_at``, SIGKILL one worker once that
    share of the messages were answered, and time its restart."""
    total = sum(len(p.steps) for p in people)
    restarts: list[asyncio.Task] = []
    step = max(total // 10, 1)

    def progress(done: int) -> None:
        if done % step == 0:
            _say(f"  {run.label}: {done:,}/{total:,} messages")
        if kill_at is not None and run.killed is None and done >= kill_at * total:
            run.killed, run.killed_at, run.killed_time = bot.kill_worker(), done, time.perf_counter()
            _say(f"  {run.label}: SIGKILL worker {run.killed} after {done:,} messages")
            restarts.append(asyncio.create_task(bot.restart_after_kill(run.killed, ports, ready)))

    run.load = await residents.drive(people, concurrency, progress)
    if restarts:
        run.restart_seconds = await restarts[0]


async def answer_handovers(telegram: FakeTelegram, hooks: dict[str, Hook], residents: Residents,
                           cases: dict[int, int], people: dict[int, Resident], staff: dict[str, str]) -> int:
    """Staff reply (Telegram "Reply") to each hand-over's post in their group; how many."""
    import aiohttp

    posts = {}
    for message in telegram.sent:
        text = message.get("text", "")
        if text.startswith("🔔 Yêu cầu #"):
            posts[(str(message["chat"]["id"]), int(text.split("#", 1)[1].split()[0]))] = message
    answered = 0
    async with aiohttp.ClientSession() as session:
        for index, number in cases.items():
            group = staff[people[index].commune.id]
            post = posts.get((group, number))
            if post is None:
                continue
            update = telegram.make_update(telegram_api.text_message(
                "Chào ông/bà, mời ông/bà mang căn cước đến bộ phận một cửa sáng mai.",
                user_id=STAFF_USER, chat_id=int(group), chat_type="supergroup",
                message_id=900_000 + answered, reply_to_message=post,
            ))
            await residents.post(session, "telegram", update, Load())
            answered += 1
    return answered


def print_figures(province: Province, first: SyncRun, second: SyncRun | None, runs: list[Run],
                  people: int, messages: int, concurrency: int, changed: int, results: list[checks.Check]) -> None:
    """The report: the province, both runs side by side, the checks."""
    rows = province.dossiers
    print(f"province: {len(province.communes):,} communes, {rows:,} dossiers in one provincial export")
    print(f"first provincial sync: {first.seconds:.1f} s ({rows / first.seconds:,.0f} rows/s), exit {first.status}")
    if second is not None:
        print(f"second sync, {changed:,} statuses changed: {second.seconds:.1f} s, exit {second.status}")
    print(f"load: {people:,} residents (half Telegram, half Zalo), {messages:,} messages, "
          f"{concurrency} residents at a time; the baseline: the same mix from other residents")
    keys = list(runs[0].figures())
    width = max(len(r.label) for r in runs) + 2
    print(f"{'':<20}" + "".join(f"{r.label:>{width}}" for r in runs))
    for key in keys:
        print(f"{key:<20}" + "".join(f"{r.figures()[key]:>{width}}" for r in runs))
    for r in runs:
        if r.killed is not None:
            restart = f"replaced after {r.restart_seconds:.1f} s" if r.restart_seconds is not None else "NOT replaced"
            print(f"{r.label}: worker {r.killed} SIGKILLed after {r.killed_at:,} messages; {restart}")
    for check in results:
        print(check.line())
    failed = [c for c in results if not c.passed]
    lost = [c for c in results if c.lost]
    if not failed:
        print("RESULT: PASS (no loss, no duplicate)")
    elif not lost:
        print(f"RESULT: FAIL: no loss, but {sum(c.extra for c in results):,} duplicate(s), each a message the "
              "killed worker had sent but not yet recorded as sent")
    else:
        print(f"RESULT: FAIL: loss or unexplained duplicates ({len(lost)} check(s))")


async def bench(args: argparse.Namespace, work: Path) -> int:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql)")
    pg = PgServer(bindir)
    pg.start()
    try:
        return await _bench(args, work, pg)
    finally:
        pg.stop()


async def _bench(args: argparse.Namespace, work: Path, pg: PgServer) -> int:
    url = pg.new_database()
    _say(f"generating {args.communes} communes, {args.dossiers:,} dossiers in {work}")
    province = write_province(work / "province", args.communes, args.dossiers, args.seed)
    changed_path = write_changed_export(province, work / "province" / "export-changed.csv", args.changed)
    changed = changed_rows(province.export_path, changed_path)
    changed_codes = {province.code(i) for i in changed}
    received = Received()
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "ZALO_BOT_TOKEN": ZALO_TOKEN,
           "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "ZALO_WEBHOOK_SECRET": ZALO_SECRET}
    if args.short_leases:
        env |= {"MOTCUA_TEST_INBOX_LEASE": str(args.short_leases), "MOTCUA_TEST_REPLY_LEASE": str(args.short_leases)}
    async with FakeTelegram(TELEGRAM_TOKEN, received) as telegram, FakeZalo(ZALO_TOKEN, received) as zalo:
        ports = {"telegram": free_port(), "zalo": free_port()}
        config, staff = write_config(province, url, telegram, zalo, ports, args.per_second or None)
        _say("first provincial sync ...")
        first = await sync(config, province.export_path, env)
        if first.status not in (0, 3):
            print("\n".join(first.lines))
            raise SystemExit(f"motcua sync failed with exit status {first.status}")
        hooks = {
            "telegram": Hook(f"http://127.0.0.1:{ports['telegram']}/telegram", TELEGRAM_HEADER, TELEGRAM_SECRET),
            "zalo": Hook(f"http://127.0.0.1:{ports['zalo']}/zalo", ZALO_HEADER, ZALO_SECRET),
        }
        residents = Residents(hooks, received, telegram, zalo, reply_timeout=args.reply_timeout)
        base_people = make_residents(province, args.baseline_residents, args.messages, seed=args.seed, changed=changed)
        main_people = make_residents(province, args.residents, args.messages, seed=args.seed,
                                     first=args.baseline_residents, changed=changed)
        everyone = base_people + main_people
        by_index = {r.index: r for r in everyone}
        webhooks = lambda: telegram.calls_of("setWebhook") and zalo.webhook is not None  # noqa: E731
        port_list = list(ports.values())
        runs: list[Run] = []
        if args.baseline_residents:
            run = Run(f"baseline: {args.baseline_workers} worker{'s' * (args.baseline_workers > 1)}", args.baseline_workers)
            bot = Bot(config, args.baseline_workers, work / "bot-baseline.log", env)
            _say(f"baseline: {' '.join(bot.command()[1:])}")
            await bot.start(port_list, webhooks)
            _say("baseline ready")
            try:
                await drive(bot, run, residents, base_people, args.concurrency, port_list, webhooks, None)
                await received.quiet(1.0, 30.0)
            finally:
                await bot.stop()
            _say("baseline stopped")
            runs.append(run)
        run = Run(f"{args.workers} workers, one killed", args.workers)
        bot = Bot(config, args.workers, work / "bot.log", env)
        _say(f"load: {' '.join(bot.command()[1:])}")
        telegram.calls.clear()
        zalo.webhook = None
        await bot.start(port_list, webhooks)
        _say("workers ready")
        second: SyncRun | None = None
        try:
            await drive(bot, run, residents, main_people, args.concurrency, port_list, webhooks,
                        args.kill_at if args.kill else None)
            runs.append(run)
            due = sum(len(p.steps) for p in everyone)
            # Replies still on their way (a killed worker's leased ones) before counting.
            await received.quiet(2.0, args.settle, lambda: sum(
                received.count(p.user_id) for p in everyone) >= due)
            until = {chat: len(got) for chat, got in received.by_chat.items()}
            cases = checks.handover_cases(everyone, received)
            groups = set(staff.values())
            await received.quiet(0.5, args.settle, lambda: sum(
                t.startswith("🔔 Yêu cầu #") for g in groups for _, t in received.by_chat.get(g, [])) >= len(cases))
            _say(f"staff answer {len(cases):,} hand-overs; second sync ({len(changed):,} statuses changed) ...")
            await answer_handovers(telegram, hooks, residents, cases, by_index, staff)
            second = await sync(config, changed_path, env)
            _say("second sync done; waiting for the notifications and staff answers")
            followed = sum(1 for p in everyone for code in p.follows if code in changed_codes)
            await received.quiet(3.0, args.settle, lambda: sum(
                received.count(p.user_id) - until.get(p.user_id, 0) for p in everyone) >= followed + len(cases))
        finally:
            status = await bot.stop()
            if status not in (0, None, -15):
                _say(f"motcua run exited with {status}:\n{bot.log_tail()}")
        kills = [r.killed_time for r in runs if r.killed is not None]
        results = [checks.replies([r.load for r in runs], by_index, received, until, kills)]
        results.append(checks.handovers(everyone, received, cases, staff))
        results.extend(checks.staff_answers(everyone, received, cases, staff, until))
        results.append(checks.notifications(everyone, received, changed_codes, until))
        late = checks.unexpected(everyone, received, until)
        if late:
            results[0].spurious += late
    print_figures(province, first, second, runs, args.residents, sum(len(p.steps) for p in main_people),
                  args.concurrency, len(changed), results)
    if any(not c.passed for c in results):
        write_dump(work / "received.json", received, runs, by_index)
        _say(f"logs, config, exports and every chat's messages and replies (received.json) kept in {work}")
    return 1 if any(c.lost for c in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=150)
    parser.add_argument("--dossiers", type=int, default=2_000_000)
    parser.add_argument("--residents", type=int, default=10_000, help="residents in the run with --workers")
    parser.add_argument("--baseline-residents", type=int, default=None,
                        help="residents in the baseline run (default: as many; 0: no baseline)")
    parser.add_argument("--messages", type=int, default=5, help="messages per resident (at least 2)")
    parser.add_argument("--concurrency", type=int, default=100, help="residents writing at the same time")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--baseline-workers", type=int, default=1)
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="do not kill a worker")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of the messages answered before the kill")
    parser.add_argument("--changed", type=float, default=0.01, help="share of statuses the second sync changes")
    parser.add_argument("--reply-timeout", type=float, default=180.0,
                        help="seconds a resident waits for a reply (above the leases: a killed worker's "
                             "messages wait 30 s, its claimed replies 90 s)")
    parser.add_argument("--short-leases", type=float, default=0.0, metavar="SECONDS",
                        help="test only: the workers' inbox and reply leases (the CI run's; 0: production's)")
    parser.add_argument("--settle", type=float, default=420.0,
                        help="seconds to wait for late replies and notifications (a killed worker's leases)")
    parser.add_argument("--per-second", type=float, default=1000.0,
                        help="each channel's overall send limit, messages/s (0: the bot's defaults, "
                             "Telegram 30/s and Zalo 20/s, which then bound the throughput)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, config, exports)")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # a killed worker's cut requests at the fakes
    if args.baseline_residents is None:
        args.baseline_residents = args.residents
    if not supports_workers():
        _say("note: this motcua run has no --workers: each run is one process")
    work = Path(tempfile.mkdtemp(prefix="motcua-province-"))
    started = time.perf_counter()
    status = 2
    try:
        status = asyncio.run(bench(args, work))
    finally:
        if status == 0 and not args.keep and not (work / "received.json").exists():
            shutil.rmtree(work, ignore_errors=True)
    _say(f"total {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
