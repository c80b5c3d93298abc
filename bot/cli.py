"""The ``motcua`` command line.

``motcua chat`` talks to the bot in the terminal; ``motcua ask`` answers one message or
one per line (``--json`` gives the stable machine-readable contract); ``motcua
validate`` checks a catalogue; ``motcua import`` drafts catalogue files from the national
procedure database and checks the catalogue against it; ``motcua sync`` loads a dossier
export; ``motcua run`` serves the configured messenger channels; ``motcua report`` shows
this month's channel usage (``--json``: one object, one key per section); ``motcua eval``
measures matching accuracy; ``motcua notice`` posts, lists and removes announcements.

Operator errors (bad config, bad catalogue, unreadable export) print one clear line
each and exit with status 2; nothing prints a traceback. ``motcua sync`` also exits 2
when no row could be applied, and 3 when it applied the export but rejected some rows.

The staff side: ``motcua report --since DATE`` adds the messages, outcomes, ratings and
missed questions from that day on; ``motcua alias add ID "text"`` adds a way of asking to
a procedure's file, and ``motcua run`` picks up such catalogue edits without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from bot.procedures.catalogue import load_catalogue
from bot.config import Config, load_config
from bot.errors import CatalogueError, ConfigError, MotcuaError

log = logging.getLogger("motcua")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motcua",
        description="Chatbot for a commune's one-stop desk (bộ phận một cửa).",
    )
    parser.add_argument("--config", type=Path, help="config file (default: built-in demo settings)")
    parser.add_argument("--catalogue", type=Path, help="procedure catalogue folder (overrides config)")
    parser.add_argument("--db", type=Path, help="dossier database file (overrides config)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = sub.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--commune", metavar="ID", help="answer as this commune of the config's communes: list")

    ask = sub.add_parser("ask", help="answer one message as the bot would")
    ask.add_argument("text", help="the message, or - to read one message per line from stdin")
    ask.add_argument("--json", action="store_true", help="print one JSON object per message")
    ask.add_argument(
        "--session", action="store_true", help="with -: the lines are one conversation of one user"
    )
    ask.add_argument("--commune", metavar="ID", help="answer as this commune of the config's communes: list")

    validate = sub.add_parser("validate", help="check a procedure catalogue")
    validate.add_argument("dir", nargs="?", type=Path, help="catalogue folder (default: configured)")

    sync = sub.add_parser("sync", help="load a dossier export (CSV, XLSX, JSON file or http URL)")
    sync.add_argument("source", help="file path or http(s) URL")
    sync.add_argument(
        "--dry-run", action="store_true", help="read and check the export, report what would change, write nothing"
    )

    run = sub.add_parser("run", help="serve the channels configured in the config file")
    run.add_argument(
        "--workers", type=int, metavar="N",
        help="serve with N worker processes (webhook mode; database.url for N > 1); see README: Workers",
    )
    run.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # one worker, started by --workers

    imp = sub.add_parser(
        "import", help="draft catalogue files from national procedure records (files or codes)"
    )
    imp.add_argument(
        "sources", nargs="+", metavar="SOURCE",
        help="a JSON file holding one portal record, or a national code such as 1.001193",
    )
    imp.add_argument("--out", type=Path, help="folder for the drafts (default: drafts/ in the catalogue)")
    imp.add_argument("--portal", default=None, help="the portal to fetch codes from (default: the national portal)")
    imp.add_argument(
        "--check", action="store_true",
        help="write nothing: list what the database changed against the catalogue; exit 1 if anything did",
    )
    admin = sub.add_parser("admin", help="serve the staff's web back office (or: admin adduser NAME)")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="SUBCOMMAND")
    adduser = admin_sub.add_parser("adduser", help="create a staff account of the back office")
    adduser.add_argument("name", help="account name (letters, digits, . _ -)")
    adduser.add_argument(
        "--commune", metavar="ID", default=None,
        help="the commune (an id of communes:) whose staff the account belongs to; needed with communes:",
    )
    adduser.add_argument(
        "--province", action="store_true",
        help="a provincial administrator: sees every commune and edits the base catalogue",
    )
    adduser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (one line)"
    )
    report = sub.add_parser(
        "report", help="channel usage this month (Zalo quota); messages, outcomes, ratings, missed questions"
    )
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument(
        "--since", type=_date, metavar="DATE",
        help="the staff sections from this day on (YYYY-MM-DD or DD/MM/YYYY; default: the last 30 days)",
    )
    report.add_argument(
        "--commune", metavar="ID", help="with communes: the staff sections of one commune only (default: all)"
    )

    alias = sub.add_parser("alias", help="add a way people ask for a procedure to its catalogue file")
    alias_sub = alias.add_subparsers(dest="alias_command", required=True, metavar="ACTION")
    alias_add = alias_sub.add_parser("add", help='motcua alias add ID "text": write the alias into ID\'s file')
    alias_add.add_argument("id", help="the procedure's id (its file name without .yaml)")
    alias_add.add_argument("text", help="the way people ask, in quotes")

    notice = sub.add_parser("notice", help="announcements the bot adds to its replies (e.g. a closure)")
    notice_sub = notice.add_subparsers(dest="notice_command", required=True, metavar="ACTION")
    notice_add = notice_sub.add_parser("add", help="post an announcement")
    notice_add.add_argument("text", help="the announcement, in Vietnamese")
    notice_add.add_argument("--until", required=True, help="last day it is shown, YYYY-MM-DD (Vietnam time)")
    notice_add.add_argument("--by", default="", help="who posts it (default: the login name)")
    notice_list = notice_sub.add_parser("list", help="list the announcements, current and past")
    notice_remove = notice_sub.add_parser("remove", help="take an announcement down")
    notice_remove.add_argument("id", type=int, help="its number, as `motcua notice list` shows it")
    notice_remove.add_argument("--by", default="", help="who removes it (default: the login name)")
    for action in (notice_add, notice_list, notice_remove):
        action.add_argument(
            "--commune", metavar="ID",
            help="with communes: this commune's announcements only (default: the province's, shown in every commune)",
        )

    ev = sub.add_parser("eval", help="measure matching accuracy on labelled questions")
    ev.add_argument("files", nargs="+", type=Path, help="evaluation YAML files")
    ev.add_argument("--failures", action="store_true", help="list every question answered wrongly")
    return parser


def _date(text: str) -> date:
    """A date from the command line: YYYY-MM-DD or DD/MM/YYYY."""
    for form in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text.strip(), form).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"expected a date such as 2026-11-01 or 01/11/2026, got {text!r}")


def _config(args: argparse.Namespace) -> Config:
    # Only `run` serves channels: the other commands work without the bot tokens set.
    config = load_config(args.config, need_tokens=args.command == "run")
    if args.catalogue is not None:
        config = replace(config, catalogue=replace(config.catalogue, dir=args.catalogue.resolve()))
    if args.db is not None:
        config = replace(config, database=replace(config.database, path=args.db.resolve(), url=None))
    return config


def _read_lines() -> list[tuple[int, str]]:
    """Standard input as text lines; invalid UTF-8 is replaced (and reported) per line."""
    lines = []
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            print(f"motcua: stdin line {number}: not valid UTF-8; undecodable bytes replaced", file=sys.stderr)
            text = raw.decode("utf-8", errors="replace")
        lines.append((number, text.rstrip("\r\n")))
    return lines


async def _ask(config: Config, args: argparse.Namespace) -> int:
    from bot.app import App
    from bot.channels.render import numbered_choices
    from bot.messages import Incoming

    app = await App.open(config, record=False)  # trying the bot is not residents' traffic
    try:
        engine = _engine_for(app, args.commune)
        messages = _read_lines() if args.text == "-" else [(1, args.text)]
        for number, text in messages:
            chat_id = "ask" if args.session else f"ask-{number}"
            response = await engine.handle(Incoming("cli", chat_id, chat_id, text))
            if args.json:
                print(json.dumps(response.to_json(), ensure_ascii=False), flush=True)
            else:
                print("\n\n".join(numbered_choices(r) for r in response.replies), end="\n\n", flush=True)
    finally:
        await app.close()
    return 0


def _engine_for(app, commune: str | None):  # type: ignore[no-untyped-def]
    """The engine answering as ``commune`` (``--commune``), else the App's own."""
    if commune is None:
        return app.engine
    if app.router is None:
        raise MotcuaError("--commune: the config has no communes: list (see config.example.yaml)")
    engine = app.router.engine_of(commune)
    if engine is None:
        raise MotcuaError(f"--commune: unknown commune {commune!r} (communes: {', '.join(app.router.tenants)})")
    return engine


async def _chat(config: Config, commune: str | None = None) -> int:
    from bot.app import App
    from bot.channels.console import chat

    app = await App.open(config)
    try:
        await chat(_engine_for(app, commune), app.notifier)
    finally:
        await app.close()
    return 0


def _validate(config: Config, directory: Path | None) -> int:
    folder = directory or config.catalogue.dir
    try:
        catalogue = load_catalogue(folder)
    except CatalogueError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"motcua validate: {len(exc.problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    referrals = sum(p.is_referral for p in catalogue)
    print(f"{folder}: OK, {len(catalogue) - referrals} procedures and {referrals} referrals")
    if directory is None:  # the configured catalogue: each commune's overlay on it too
        return _validate_overlays(config)
    return 0


def _validate_overlays(config: Config) -> int:
    """``motcua validate`` for every commune's overlay on the base catalogue."""
    from bot.procedures.overlay import load_overlaid

    status = 0
    for entry in config.communes:
        if entry.catalogue.overlay is None:
            continue
        try:
            catalogue = load_overlaid(config.catalogue.dir, entry.catalogue.overlay)
        except CatalogueError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"motcua validate: {len(exc.problems)} problem(s) in {entry.catalogue.overlay} "
                  f"(commune {entry.id})", file=sys.stderr)
            status = 1
            continue
        referrals = sum(p.is_referral for p in catalogue)
        print(f"{entry.catalogue.overlay} (commune {entry.id}): OK, "
              f"{len(catalogue) - referrals} procedures and {referrals} referrals")
    return status


async def _sync(config: Config, source: str, dry_run: bool = False) -> int:
    """Exit status: 0 all rows applied, 3 applied with rejected rows, 2 nothing applied."""
    from bot.dialogue import Engine
    from bot.dossiers.store import open_store
    from bot.dossiers.sync import ProgressPrinter, commune_routes, sync_prefix, sync_source

    from bot.app import catalogue_ids
    from bot.procedures.compiled import open_catalogue

    progress = ProgressPrinter(sys.stderr)
    compiled = open_catalogue(config.catalogue.dir)
    engine = Engine.build(config, compiled.catalogue, index=compiled.index)
    ids = catalogue_ids(compiled.catalogue, engine.matcher)
    path = config.database.path
    if dry_run and config.database.url is None and not path.exists():  # a dry run creates no file either
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="motcua-dry-run-")
        path = Path(scratch.name) / path.name
    store = await open_store(path, config.database.url)
    try:
        report = await sync_source(
            store, source, config.status.sync.columns, progress=progress, procedure_ids=ids,
            code_prefix=sync_prefix(config), dry_run=dry_run, communes=commune_routes(config),
        )
    finally:
        progress.finish()
        await store.close()
    for line in report.summary_lines():
        print(line)
    return report.exit_status


async def _run(config: Config) -> int:
    from bot.app import App
    from bot.channels.base import Channel
    from bot.dossiers.sync import run_scheduled_sync
    from bot.procedures.watch import watch

    telegram, zalo = config.channels.telegram, config.channels.zalo
    if not (telegram and telegram.token) and not (zalo and zalo.token):
        raise MotcuaError(
            "no channel configured: set channels.telegram.token and/or channels.zalo.token "
            "in the config file (see config.example.yaml)"
        )
    app = await App.open(config)
    if config.handover.telegram_chat_id and not (telegram and telegram.token):
        log.warning("handover.telegram_chat_id is set, but without the Telegram channel nothing is posted there")
    channels: list[Channel] = []
    if telegram is not None and telegram.token:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(telegram, app))
    if zalo is not None and zalo.token:
        from bot.channels.zalo import ZaloChannel

        channels.append(ZaloChannel(zalo, app))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Channel] = []
    tasks: list[asyncio.Task] = []
    try:
        for channel in channels:
            await channel.start()
            started.append(channel)
            log.info("channel %s started", channel.name)
        if config.catalogue.reload_seconds > 0:  # staff edits take effect without a restart
            from bot.tenants import catalogue_folders

            tasks.append(asyncio.create_task(watch(
                catalogue_folders(config), lambda: app.catalogue_fingerprint, app.reload_catalogue, stop,
                config.catalogue.reload_seconds,
            )))
        if config.status.sync.source and config.status.sync.interval_minutes > 0:
            tasks.append(asyncio.create_task(run_scheduled_sync(app.store, config, stop)))
        if config.backoffice is not None:
            from bot.backoffice.web import serve_beside

            tasks.append(asyncio.create_task(serve_beside(app, config.backoffice, stop, lambda: {c.name for c in started})))
        print(f"motcua: serving {', '.join(c.name for c in started)}; Ctrl+C to stop", file=sys.stderr)
        await stop.wait()
    finally:
        for channel in reversed(started):
            await channel.stop()
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.close()
    return 0


async def _import(config: Config, args: argparse.Namespace) -> int:
    from bot.procedures.importer import differences, entry_for, write_draft
    from bot.procedures.national import DEFAULT_PORTAL, PortalClient, is_code, read_record_file

    records = []
    client: PortalClient | None = None
    try:
        for source in args.sources:
            if Path(source).is_file():
                records.append(read_record_file(Path(source)))
            elif is_code(source):
                client = client or PortalClient(args.portal or DEFAULT_PORTAL)
                records.append(await client.fetch(source))
            else:
                raise MotcuaError(f"{source}: neither a JSON file nor a national code such as 1.001193")
    finally:
        if client is not None:
            await client.close()
    if not args.check:
        out = args.out or config.catalogue.dir / "drafts"
        for record in records:
            print(f"{record.code}: draft written to {write_draft(record, out)}")
        print(f"motcua import: {len(records)} draft(s); review each, then move it into its field's folder")
        return 0
    catalogue = load_catalogue(config.catalogue.dir)
    changed = 0
    for record in records:
        proc = entry_for(catalogue, record)
        if proc is None:
            print(f"{record.code}: not in the catalogue ({record.name})")
            changed += 1
            continue
        found = differences(proc, record)
        changed += bool(found)
        for diff in found:
            print(diff)
        if not found:
            print(f"{record.code} ({proc.id}): no change")
    print(f"motcua import --check: {changed} of {len(records)} record(s) differ from the catalogue")
    return 1 if changed else 0


def _commune_option(config: Config, args: argparse.Namespace) -> str | None:
    """``--commune ID`` of ``report`` and ``notice``: an id of the config's ``communes:``,
    or None when not given; raises ConfigError (one line naming the file) for another."""
    commune = args.commune
    if commune is not None and commune not in {c.id for c in config.communes}:
        known = ", ".join(c.id for c in config.communes) or "none: there is no communes: list"
        where = args.config or "the built-in settings"
        raise ConfigError(f"--commune {commune!r}: no such commune in communes: of {where} ({known})")
    return commune


async def _report(config: Config, args: argparse.Namespace) -> int:
    from bot.dossiers.store import open_store
    from bot.report import StaffViews, build_report, format_report

    from bot.staff.recorder import StaffRecorder

    names = _procedure_names(config)
    commune = _commune_option(config, args)
    store = await open_store(config.database.path, config.database.url)
    try:
        staff = await StaffRecorder.open(config.database.path, config.missed.retention_days, url=config.database.url)
        try:
            views = StaffViews.of(staff, commune)
            report = await build_report(store, config, since=args.since, staff=views, names=names)
            if commune is not None:
                report["commune"] = commune
        finally:
            await staff.close()
    finally:
        await store.close()
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


async def _notice(config: Config, args: argparse.Namespace) -> int:
    """``motcua notice add|list|remove``: the announcements, for staff without the web app."""
    import getpass
    from datetime import date, datetime, time, timedelta

    from bot.staff.hours import VIETNAM
    from bot.staff.notices import PROVINCE, NoticeError, NoticeStore

    def who() -> str:
        try:
            return args.by or f"{getpass.getuser()} (dòng lệnh)"
        except (KeyError, OSError):
            return "dòng lệnh"

    commune = _commune_option(config, args)
    opened = await NoticeStore.open(config.database.path, config.database.url)
    # with communes:, the command line speaks for the province (its notices show in every
    # commune) unless --commune names one: then as that commune's staff
    store = opened.scoped(commune or PROVINCE) if config.communes else opened
    try:
        if args.notice_command == "add":
            try:
                last = date.fromisoformat(args.until)
            except ValueError:
                raise MotcuaError(f"--until: expected a date as YYYY-MM-DD, got {args.until!r}") from None
            until = datetime.combine(last + timedelta(days=1), time(0), VIETNAM)  # to the end of that day
            try:
                number = await store.post(args.text, until, who())
            except NoticeError as exc:
                raise MotcuaError(f"notice add: {exc}") from None
            print(f"announcement {number} posted, shown until the end of {last:%d/%m/%Y}")
        elif args.notice_command == "list":
            now = datetime.now(VIETNAM)
            notices = await store.all()
            for n in notices:
                state = "removed" if n.removed_at else ("expired" if n.until <= now else "current")
                shown = (n.until - timedelta(seconds=1)).strftime("%d/%m/%Y")
                print(f"{n.id}\t{state}\tuntil {shown}\tby {n.posted_by}\t{n.text}")
            if not notices:
                print("no announcements")
        elif await store.remove(args.id, who()):
            print(f"announcement {args.id} removed")
        else:
            raise MotcuaError(f"notice remove: no announcement {args.id} is up")
    finally:
        await opened.close()
    return 0


def _admin(config: Config, args: argparse.Namespace) -> int:
    from bot.backoffice.admin import account_commune, add_user, read_password, serve_alone

    if args.admin_command == "adduser":
        commune = account_commune(config, args.commune, args.province)
        password = read_password(from_stdin=args.password_stdin)
        asyncio.run(add_user(config, args.name, password, commune))
        print(f"motcua admin: account {args.name} created")
        return 0
    return asyncio.run(serve_alone(config))


def _eval(config: Config, args: argparse.Namespace) -> int:
    from bot.evaluate import run_evaluation

    return run_evaluation(config, args.files, show_failures=args.failures)


def _procedure_names(config: Config) -> Callable[[str], str | None]:
    """A procedure's name by id, from the catalogue (ids only when it cannot be loaded)."""
    from bot.procedures.compiled import open_catalogue

    try:
        catalogue = open_catalogue(config.catalogue.dir, last_good=True).catalogue
    except CatalogueError:
        return lambda _id: None
    return lambda proc_id: (p.name if (p := catalogue.get(proc_id)) is not None else None)


def _alias(config: Config, args: argparse.Namespace) -> int:
    from bot.procedures.aliases import add_alias

    path = add_alias(config.catalogue.dir, args.id, args.text)
    alias = " ".join(args.text.split())
    print(f"{path}: đã thêm cách gọi «{alias}» cho {args.id}; trợ lý đang chạy sẽ dùng sau vài giây, không cần khởi động lại")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``motcua`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # These libraries log SQL parameters and request URLs at debug level: personal data
    # and bot tokens must never reach the log, whatever the verbosity.
    for noisy in ("aiosqlite", "httpx", "httpcore", "telegram", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = _config(args)
        if args.command == "validate":
            return _validate(config, args.dir)
        if args.command == "chat":
            return asyncio.run(_chat(config, args.commune))
        if args.command == "ask":
            return asyncio.run(_ask(config, args))
        if args.command == "sync":
            return asyncio.run(_sync(config, args.source, args.dry_run))
        if args.command == "run" and (args.workers is not None or args.worker_index is not None):
            from bot.serving.workers import global_options, run_workers, worker_config

            if args.worker_index is not None:
                from bot.serving.worker import WorkerOptions, run_worker

                return asyncio.run(run_worker(worker_config(config), WorkerOptions(index=args.worker_index)))
            return run_workers(config, args.workers, global_options(args.config, args.catalogue, args.db, args.verbose))
        if args.command == "run":
            return asyncio.run(_run(config))
        if args.command == "report":
            return asyncio.run(_report(config, args))
        if args.command == "alias":
            return _alias(config, args)
        if args.command == "eval":
            return _eval(config, args)
        if args.command == "notice":
            return asyncio.run(_notice(config, args))
        if args.command == "import":
            return asyncio.run(_import(config, args))
        if args.command == "admin":
            return _admin(config, args)
    except CatalogueError as exc:
        for problem in exc.problems:
            print(f"motcua: {problem}", file=sys.stderr)
        return 2
    except MotcuaError as exc:
        print(f"motcua: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0 if args.command == "chat" else 130  # Ctrl+C is how a chat may end
    except BrokenPipeError:
        if args.command == "run":
            raise
        # The reader of our output went away (`motcua ask ... | head -1`): stop quietly,
        # with the status of a process ended by SIGPIPE, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
