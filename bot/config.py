"""Configuration: typed dataclasses loaded from a YAML file.

Every key is documented in ``config.example.yaml``. Values may reference environment
variables as ``${NAME}`` (bot tokens are given that way and never committed). A bad
file raises :class:`ConfigError` naming the offending key, e.g. ``matching.confident``.
With no file at all, :func:`load_config` returns the embedded defaults: the bundled
catalogue and demo dossiers, no channels.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent
#: The repository root, when running from a checkout (or an editable install).
PROJECT_ROOT = _PACKAGE.parent


def _bundled_catalogue() -> Path:
    """The catalogue shipped with the bot: the copy of ``procedures/`` packaged inside an
    installed wheel (``bot/_catalogue``), else the checkout's own ``procedures/`` folder."""
    packaged = _PACKAGE / "_catalogue"
    return packaged if packaged.is_dir() else PROJECT_ROOT / "procedures"


BUNDLED_CATALOGUE = _bundled_catalogue()
DEMO_DOSSIERS = _PACKAGE / "dossiers" / "data" / "demo_dossiers.csv"


def user_data_dir(environ: typing.Mapping[str, str] | None = None) -> Path:
    """The per-user folder for the demo's database: ``$XDG_DATA_HOME/motcua-bot``, by
    default ``~/.local/share/motcua-bot`` (never inside the installed package)."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return Path(xdg) / "motcua-bot"
    try:
        return Path.home() / ".local" / "share" / "motcua-bot"
    except RuntimeError:  # no home folder at all (a bare service account)
        return Path.cwd() / "data"


@dataclass
class CommuneConfig:
    """The commune and its one-stop desk, as shown to citizens."""

    name: str = "UBND xã Tân Hòa"
    office: str = "Bộ phận Một cửa, trụ sở UBND xã Tân Hòa"
    hours: str = "Sáng 7h30–11h30, chiều 13h30–17h00, thứ Hai đến thứ Sáu"
    hotline: str = "0210 3800 000"


@dataclass
class CatalogueConfig:
    """Where the procedure catalogue lives."""

    dir: Path = BUNDLED_CATALOGUE
    #: ``motcua run`` looks for edited catalogue files this often (seconds; 0 = never).
    reload_seconds: float = 10.0


@dataclass
class DatabaseConfig:
    """The dossier database: one SQLite file, or PostgreSQL when ``url`` is set.

    The built-in demo settings keep it in the per-user data folder; a config file without
    ``database.path`` puts it in ``data/motcua.sqlite3`` beside the config file."""

    path: Path = field(default_factory=lambda: user_data_dir() / "demo.sqlite3")
    #: ``postgresql://user@host:port/dbname``: the dossier store on PostgreSQL instead of
    #: ``path`` (needs the ``postgres`` extra). Give a password through ``${NAME}``.
    url: str | None = None


@dataclass
class MatchingConfig:
    """Score thresholds (0-100) for deciding between an answer, choices and "don't know"."""

    #: A top match at or above this score, far enough ahead of the next, is answered directly.
    confident: float = 72.0
    #: Matches at or above this score are offered as choices when none is confident.
    candidate: float = 58.0
    #: How far the top match must lead the second to be answered without asking.
    margin: float = 6.0


@dataclass
class DialogueConfig:
    """Conversation memory."""

    #: A conversation is forgotten after this many minutes without messages.
    session_timeout_minutes: float = 30.0


@dataclass
class MissedConfig:
    """The questions the bot missed, kept (masked) for the staff."""

    #: Kept questions older than this many days are deleted.
    retention_days: int = 90


@dataclass
class SyncColumns:
    """Header names of the one-stop system's exports, per dossier field (any of the names)."""

    code: list[str] = field(
        default_factory=lambda: ["Mã hồ sơ", "Số biên nhận", "Ma ho so", "code", "Số hồ sơ",
                                 "Mã biên nhận", "Mã số hồ sơ", "Mã HS", "Số HS"]
    )
    procedure: list[str] = field(
        default_factory=lambda: ["Tên thủ tục", "Thủ tục", "procedure", "Tên TTHC", "TTHC",
                                 "Thủ tục hành chính", "Tên thủ tục hành chính"]
    )
    applicant: list[str] = field(
        default_factory=lambda: ["Chủ hồ sơ", "Người nộp", "Tên người nộp", "applicant",
                                 "Người đứng tên", "Người nộp hồ sơ", "Tổ chức, cá nhân",
                                 "Tổ chức/Cá nhân", "Họ và tên", "Họ tên"]
    )
    phone: list[str] = field(
        default_factory=lambda: ["Số điện thoại", "Điện thoại", "SĐT", "phone", "Số ĐT",
                                 "Điện thoại liên hệ"]
    )
    address: list[str] = field(
        default_factory=lambda: ["Địa chỉ", "Thôn", "address", "Địa chỉ liên hệ", "Thôn, xóm"]
    )
    received: list[str] = field(
        default_factory=lambda: ["Ngày tiếp nhận", "Ngày nhận", "received", "Ngày nhận hồ sơ",
                                 "Ngày tiếp nhận hồ sơ", "Ngày nộp"]
    )
    appointment: list[str] = field(
        default_factory=lambda: ["Ngày hẹn trả", "Ngày hẹn trả kết quả", "appointment", "Hẹn trả",
                                 "Ngày hẹn", "Hẹn trả kết quả", "Ngày hẹn trả KQ"]
    )
    returned: list[str] = field(
        default_factory=lambda: ["Ngày trả kết quả", "Ngày trả", "returned", "Ngày trả KQ"]
    )
    status: list[str] = field(
        default_factory=lambda: ["Trạng thái", "Tình trạng", "status", "Tình trạng xử lý",
                                 "Trạng thái hồ sơ", "Trạng thái xử lý", "Tình trạng hồ sơ"]
    )


@dataclass
class SyncConfig:
    """Scheduled sync of the running bot from the one-stop system's export."""

    #: A CSV/XLSX file path or an http(s) URL of a JSON endpoint; empty: no scheduled sync.
    source: str = ""
    #: Minutes between scheduled syncs; 0 disables the schedule.
    interval_minutes: float = 0.0
    columns: SyncColumns = field(default_factory=SyncColumns)


@dataclass
class StatusConfig:
    """Dossier status look-ups."""

    #: Regular expression of a full dossier code (receipt number).
    code_pattern: str = r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}"
    #: The commune's own code prefix, so that "250312-0007" alone can be completed.
    code_prefix: str = "000.00.14.H56"
    #: Ask for the last 3 digits of the phone number on file before showing details.
    require_phone_digits: bool = False
    #: Look-ups (one per code, found or not) allowed per user, and per chat, in any minute.
    lookups_per_minute: int = 10
    #: Unknown codes (or wrong phone digits) per user, and per chat, in 10 minutes before
    #: look-ups are paused.
    max_misses: int = 5
    #: Codes answered from one message; the rest are not looked up (the reply says so).
    max_codes_per_message: int = 5
    #: Different codes one user, or one chat, may look up in any hour and in any 24 hours.
    codes_per_hour: int = 20
    codes_per_day: int = 50
    #: Different codes all users together may look up in any hour (against guessing spread
    #: over many accounts); 0 = no such limit.
    codes_per_hour_all: int = 0
    #: Seeded on first start when the database is empty. The built-in demo settings name
    #: the demo export; a config file seeds only what it names here (nothing by default).
    demo_data: Path | None = DEMO_DOSSIERS
    sync: SyncConfig = field(default_factory=SyncConfig)


@dataclass
class HamletHead:
    """A trưởng thôn who may ask for their hamlet's digest."""

    channel: str
    user_id: str
    hamlet: str


@dataclass
class WebhookConfig:
    """Webhook mode of a channel (instead of long polling)."""

    #: Public HTTPS URL the messenger posts updates to; empty means long polling.
    url: str = ""
    listen: str = "127.0.0.1"
    port: int = 8443
    #: Shared secret sent by the messenger with every update.
    secret_token: str = ""


@dataclass
class RateLimitConfig:
    """How fast a channel sends, counted across all worker processes (``motcua run
    --workers``): messages a second for the whole bot, a second in one chat (after a
    burst of ``chat_burst``) and a minute in one group chat (0: no such limit)."""

    per_second: float = 30.0
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0


@dataclass
class TelegramConfig:
    """The Telegram channel."""

    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    #: The Bot API FAQ's limits: ~30 messages/s overall, 1/s in a chat, 20/min in a group.
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)


@dataclass
class ZaloConfig:
    """The Zalo channel (Zalo Bot API)."""

    token: str = ""
    base_url: str = "https://bot-api.zaloplatforms.com"
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    #: Outbound messages a month the bot's plan allows (the free plan: 3,000); the log
    #: warns at 70%, 85%, 95% and 100% of it. 0: no warning.
    monthly_quota: int = 3000
    #: Users the bot's plan allows (the free plan: 50); warned about like the quota.
    max_users: int = 50
    #: Zalo's Bot API documents no per-second limit (429 is its quota error): a
    #: conservative guess, to raise when Zalo says more is allowed.
    rate_limits: RateLimitConfig = field(
        default_factory=lambda: RateLimitConfig(per_second=20.0, group_per_minute=0.0)
    )


@dataclass
class ChannelsConfig:
    """Messenger channels served by ``motcua run``; a channel without a token is off."""

    telegram: TelegramConfig | None = None
    zalo: ZaloConfig | None = None


@dataclass
class HandoverConfig:
    """Hand-overs to a person (see :mod:`bot.staff.handovers`)."""

    #: The Telegram group of the desk's staff that hand-overs are posted to and answered
    #: from (its numeric chat id, e.g. "-1001234567890"); empty: the web inbox only.
    telegram_chat_id: str = ""


def _day(*ranges: str) -> Any:
    return field(default_factory=lambda: list(ranges))


@dataclass
class Holiday:
    """A day the desk is closed (``date`` as YYYY-MM-DD), or several (``date`` to ``until``)."""

    date: str
    name: str = ""
    until: str = ""


@dataclass
class OfficeHoursConfig:
    """When the desk works: "HH:MM-HH:MM" ranges per weekday, Vietnam time (UTC+7), and
    holidays. The default matches :attr:`CommuneConfig.hours`."""

    monday: list[str] = _day("07:30-11:30", "13:30-17:00")
    tuesday: list[str] = _day("07:30-11:30", "13:30-17:00")
    wednesday: list[str] = _day("07:30-11:30", "13:30-17:00")
    thursday: list[str] = _day("07:30-11:30", "13:30-17:00")
    friday: list[str] = _day("07:30-11:30", "13:30-17:00")
    saturday: list[str] = _day()
    sunday: list[str] = _day()
    holidays: list[Holiday] = field(default_factory=list)


@dataclass
class BackofficeConfig:
    """The web back office for the desk's staff (``motcua admin``; ``motcua run`` serves it
    too when the ``backoffice:`` block is present)."""

    #: Address to listen on; keep 127.0.0.1 and put a reverse proxy (HTTPS) in front.
    listen: str = "127.0.0.1"
    port: int = 8450
    #: Mark cookies Secure (sent over HTTPS only); false only for plain-http local tests.
    secure_cookies: bool = True
    #: A login lasts this many hours of inactivity at most.
    session_hours: float = 8.0
    #: Failed logins (per account and per client address) before a pause ...
    max_failures: int = 5
    #: ... of this many minutes.
    lockout_minutes: float = 15.0
    #: Behind a reverse proxy: take the client address from the last X-Forwarded-For entry.
    behind_proxy: bool = False


@dataclass
class CommuneStatus:
    """A commune's own part of ``status``: the agency segment of its dossier codes."""

    code_prefix: str


@dataclass
class CommuneCatalogue:
    """A commune's own part of ``catalogue``: its overlay on the provincial base."""

    #: A folder of additions, local facts and an ``overlay.yaml`` of removals (see
    #: :mod:`bot.procedures.overlay`); None: the base catalogue as it is.
    overlay: Path | None = None


@dataclass
class CommuneEntry:
    """One commune (tenant) of a provincial bot: an item of the top-level ``communes:``."""

    id: str
    commune: CommuneConfig
    status: CommuneStatus
    catalogue: CommuneCatalogue = field(default_factory=CommuneCatalogue)
    #: None: the top-level ``office_hours``.
    office_hours: OfficeHoursConfig | None = None
    hamlet_heads: list[HamletHead] = field(default_factory=list)
    #: An empty ``telegram_chat_id``: the top-level ``handover`` group.
    handover: HandoverConfig = field(default_factory=HandoverConfig)


@dataclass
class Config:
    """The whole configuration."""

    commune: CommuneConfig = field(default_factory=CommuneConfig)
    catalogue: CatalogueConfig = field(default_factory=CatalogueConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    missed: MissedConfig = field(default_factory=MissedConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    hamlet_heads: list[HamletHead] = field(default_factory=list)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    handover: HandoverConfig = field(default_factory=HandoverConfig)
    office_hours: OfficeHoursConfig = field(default_factory=OfficeHoursConfig)
    backoffice: BackofficeConfig | None = None
    #: Several communes on one bot (see :mod:`bot.tenants`); empty: one commune, the
    #: top-level keys.
    communes: list[CommuneEntry] = field(default_factory=list)
    #: The commune (tenant) id this Config is for, written into the staff-side rows it
    #: makes: set by :func:`bot.tenants.tenant_config`; '' with one commune. Not a key.
    tenant: str = field(default="", metadata={"config": False})


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Keys whose value must be exactly one ${NAME} reference: secrets never sit in the file.
_ENV_ONLY = {"channels.telegram.token": "TELEGRAM_BOT_TOKEN", "channels.zalo.token": "ZALO_BOT_TOKEN"}
#: Telegram allows 1-256 of these characters; fewer than 16 is too easy to guess.
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
_HAMLET_CHANNELS = ("telegram", "zalo")
_PG_SCHEMES = ("postgresql://", "postgres://")
_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


class _ChannelEnvOptional(dict[str, str]):
    """The environment for commands that serve no channel: an unset ``${NAME}`` under
    ``channels.`` reads as empty instead of stopping the command."""


def _expand_env(value: str, key: str, environ: typing.Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
            if isinstance(environ, _ChannelEnvOptional) and key.startswith("channels."):
                return ""
            raise ConfigError(f"{key}: environment variable {name} is not set")
        return environ[name]

    return _ENV_REF.sub(sub, value)


def _convert(tp: Any, value: Any, key: str, base: Path, environ: typing.Mapping[str, str]) -> Any:
    """Convert a parsed YAML value to type ``tp``, raising ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, key, base, environ)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key or 'config'}: expected a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.metadata.get("config", True)}
        unknown = sorted(set(map(str, value)) - names)
        if unknown:
            where = f"{key}." if key else ""
            raise ConfigError(f"{where}{unknown[0]}: unknown key (expected one of {', '.join(sorted(names))})")
        required = [
            f.name
            for f in dataclasses.fields(tp)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        for name in required:
            if name not in value:
                where = f"{key}.{name}" if key else name
                raise ConfigError(f"{where}: missing (each item needs {', '.join(required)})")
        kwargs = {}
        for name, raw in value.items():
            kwargs[name] = _convert(hints[name], raw, f"{key}.{name}" if key else name, base, environ)
        return tp(**kwargs)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        return [_convert(item_tp, v, f"{key}[{i}]", base, environ) for i, v in enumerate(value)]
    if key in _ENV_ONLY and value not in (None, "") and not (
        isinstance(value, str) and _ENV_REF.fullmatch(value)
    ):
        raise ConfigError(
            f"{key}: a token must not be written in the config file; write "
            f'"${{{_ENV_ONLY[key]}}}" and set {_ENV_ONLY[key]} in the environment'
        )
    if isinstance(value, str):
        value = _expand_env(value, key, environ)
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path")
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp in (int, float):
        try:
            number = tp(value)
            if not math.isfinite(number):
                raise ValueError(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"{key}: must not be negative")
        return number
    if tp is str:
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected text")
        return str(value)
    raise ConfigError(f"{key}: unsupported value {value!r}")  # pragma: no cover


def _given(data: Any, *keys: str) -> bool:
    """Whether the parsed YAML sets the key at ``keys`` (a path of mapping keys)."""
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return False
        data = data[k]
    return True


def _check_channels(config: Config) -> None:
    """Webhook secrets the messengers would refuse, or that are too easy to guess."""
    telegram, zalo = config.channels.telegram, config.channels.zalo
    if telegram is not None and telegram.webhook.secret_token:
        if not _TELEGRAM_SECRET.fullmatch(telegram.webhook.secret_token):
            raise ConfigError(
                "channels.telegram.webhook.secret_token: use 16 to 256 letters, digits, _ or - "
                "(e.g. the output of `openssl rand -hex 32`)"
            )
    if zalo is not None and zalo.webhook.secret_token:
        if not 8 <= len(zalo.webhook.secret_token) <= 256:
            raise ConfigError("channels.zalo.webhook.secret_token: use 8 to 256 characters")


def parse_config(
    data: Any,
    *,
    base: Path = Path.cwd(),
    environ: typing.Mapping[str, str] | None = None,
    need_tokens: bool = True,
) -> Config:
    """Build a :class:`Config` from a parsed config file; relative paths are resolved
    against ``base``. Unlike the built-in demo settings, a file seeds demo dossiers only
    when it names ``status.demo_data``, and keeps its database beside itself by default.
    With ``need_tokens`` false (commands that serve no channel), unset ``${NAME}``
    references under ``channels`` read as empty instead of being an error."""
    env = os.environ if environ is None else environ
    if not need_tokens:
        env = _ChannelEnvOptional(env)
    config = _convert(Config, data, "", base, env)
    if not _given(data, "status", "demo_data"):
        config = dataclasses.replace(config, status=dataclasses.replace(config.status, demo_data=None))
    if _given(data, "backoffice") and config.backoffice is None:  # `backoffice:` alone: defaults
        config = dataclasses.replace(config, backoffice=BackofficeConfig())
    if not _given(data, "database", "path"):
        config = dataclasses.replace(
            config, database=dataclasses.replace(config.database, path=base / "data" / "motcua.sqlite3")
        )
    if config.database.url is not None and not config.database.url.startswith(_PG_SCHEMES):
        raise ConfigError("database.url: expected a postgresql:// URL (or leave it out for SQLite)")
    try:
        re.compile(config.status.code_pattern)
    except re.error as exc:
        raise ConfigError(f"status.code_pattern: not a valid regular expression ({exc})") from None
    if config.matching.candidate > config.matching.confident:
        raise ConfigError("matching.candidate: must not be above matching.confident")
    _check_heads(config.hamlet_heads, "hamlet_heads")
    _check_channels(config)
    _check_handover(config.handover, "handover")
    from bot.staff.hours import OfficeHours  # checks every range and date, naming the key

    OfficeHours.from_config(config.office_hours)
    _check_communes(config, data)
    return config


def _check_heads(heads: list[HamletHead], key: str) -> None:
    for i, head in enumerate(heads):
        if head.channel not in _HAMLET_CHANNELS:
            raise ConfigError(
                f"{key}[{i}].channel: expected {' or '.join(_HAMLET_CHANNELS)}, got {head.channel!r}"
            )
        for name in ("user_id", "hamlet"):
            if not getattr(head, name).strip():
                raise ConfigError(f"{key}[{i}].{name}: must not be empty")


def _check_handover(handover: HandoverConfig, key: str) -> None:
    if handover.telegram_chat_id and not re.fullmatch(r"-?\d{1,20}", handover.telegram_chat_id):
        raise ConfigError(
            f"{key}.telegram_chat_id: expected the group's numeric chat id, e.g. \"-1001234567890\""
        )


#: A commune's id: it is the deep link's payload (``t.me/<bot>?start=<id>``), so short
#: kebab-case ASCII.
_COMMUNE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CODE_PREFIX = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")
_COMMUNE_KEYS = ("name", "office", "hours", "hotline")


def _check_communes(config: Config, data: Any) -> None:
    """The ``communes:`` list: ids and code prefixes unique and well formed, each
    commune block complete (no key silently taken from the defaults)."""
    from bot.staff.hours import OfficeHours

    if config.communes and config.hamlet_heads:  # they would be nobody's: say where they go
        raise ConfigError("hamlet_heads: with communes:, list each hamlet head under their commune "
                          "(communes[N].hamlet_heads)")
    ids: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    raw = data.get("communes") if isinstance(data, dict) else None
    for i, entry in enumerate(config.communes):
        key = f"communes[{i}]"
        if len(entry.id) > 64 or not _COMMUNE_ID.fullmatch(entry.id):
            raise ConfigError(
                f"{key}.id: expected lower-case letters, digits and dashes (at most 64), got {entry.id!r}"
            )
        if entry.id in ids:
            raise ConfigError(f"{key}.id: duplicate id {entry.id!r} (also communes[{ids[entry.id]}])")
        ids[entry.id] = i
        item = raw[i] if isinstance(raw, list) and i < len(raw) else {}
        for name in _COMMUNE_KEYS:
            if not _given(item, "commune", name) or not getattr(entry.commune, name).strip():
                raise ConfigError(f"{key}.commune.{name}: missing (each commune gives {', '.join(_COMMUNE_KEYS)})")
        prefix = entry.status.code_prefix
        sample = f"{prefix}-000000-0000"
        if not _CODE_PREFIX.fullmatch(prefix) or not re.fullmatch(config.status.code_pattern, sample):
            raise ConfigError(
                f"{key}.status.code_prefix: {prefix!r} is not the agency segment of a dossier code "
                f"(e.g. 000.00.14.H56) that fits status.code_pattern"
            )
        if prefix in prefixes:
            raise ConfigError(
                f"{key}.status.code_prefix: {prefix!r} is also communes[{prefixes[prefix]}]'s prefix"
            )
        prefixes[prefix] = i
        _check_heads(entry.hamlet_heads, f"{key}.hamlet_heads")
        _check_handover(entry.handover, f"{key}.handover")
        if entry.office_hours is not None:
            try:
                OfficeHours.from_config(entry.office_hours)
            except ConfigError as exc:
                raise ConfigError(f"{key}.{exc}") from None


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that keeps every plain scalar but ``null`` as the text written, so that
    ``hotline: 02253567777`` stays "02253567777" (YAML 1.1 reads it as an octal number);
    :func:`_convert` turns text into numbers and booleans where a key expects one."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _key_lines(node: yaml.Node | None, key: str = "", lines: dict[str, int] | None = None) -> dict[str, int]:
    """The 1-based line of every key path in the composed YAML (``a.b``, ``a[0].c``)."""
    lines = {} if lines is None else lines
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            path = f"{key}.{knode.value}" if key else str(knode.value)
            lines.setdefault(path, knode.start_mark.line + 1)
            _key_lines(vnode, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{key}[{i}]"
            lines.setdefault(path, item.start_mark.line + 1)
            _key_lines(item, path, lines)
    return lines


def _line_of(message: str, lines: dict[str, int]) -> int | None:
    """The line of the key an error message starts with (or of its nearest parent)."""
    key = message.split(": ", 1)[0]
    while key:
        if key in lines:
            return lines[key]
        parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", key)
        if parent == key:
            return None
        key = parent
    return None


def load_config(
    path: Path | None, *, environ: typing.Mapping[str, str] | None = None, need_tokens: bool = True
) -> Config:
    """Load the config file at ``path``, or the embedded defaults when ``path`` is None.
    Errors name the file, the line and the key. ``need_tokens``: see :func:`parse_config`."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    loader = _TextLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    try:
        return parse_config(data, base=path.resolve().parent, environ=environ, need_tokens=need_tokens)
    except ConfigError as exc:
        line = _line_of(str(exc), _key_lines(node))
        raise ConfigError(f"{path}:{line}: {exc}" if line else f"{path}: {exc}") from None
