"""Configuration: typed dataclasses loaded from a YAML file.

Every key is documented in ``config.example.yaml``. Values may reference environment
variables as ``${NAME}`` (bot tokens are given that way and never committed). A bad
file raises :class:`ConfigError` naming the offending key, e.g. ``matching.confident``.
With no file at all, :func:`load_config` returns the embedded defaults: the bundled
catalogue and demo dossiers, no channels.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

#: The repository root (where the bundled ``procedures/`` catalogue lives).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CATALOGUE = PROJECT_ROOT / "procedures"
DEMO_DOSSIERS = Path(__file__).resolve().parent / "dossiers" / "data" / "demo_dossiers.csv"


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


@dataclass
class DatabaseConfig:
    """The dossier database (one SQLite file)."""

    path: Path = PROJECT_ROOT / "data" / "motcua.sqlite3"


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
    #: Look-ups allowed per user per minute.
    lookups_per_minute: int = 10
    #: Unknown codes a user may try before being slowed down.
    max_misses: int = 5
    #: Seeded on first start when the database is empty (the embedded demo).
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
class TelegramConfig:
    """The Telegram channel."""

    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass
class ZaloConfig:
    """The Zalo channel (Zalo Bot API)."""

    token: str = ""
    base_url: str = "https://bot-api.zaloplatforms.com"
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass
class ChannelsConfig:
    """Messenger channels served by ``motcua run``; a channel without a token is off."""

    telegram: TelegramConfig | None = None
    zalo: ZaloConfig | None = None


@dataclass
class Config:
    """The whole configuration."""

    commune: CommuneConfig = field(default_factory=CommuneConfig)
    catalogue: CatalogueConfig = field(default_factory=CatalogueConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    hamlet_heads: list[HamletHead] = field(default_factory=list)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: str, key: str, environ: typing.Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in environ:
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
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(map(str, value)) - names)
        if unknown:
            where = f"{key}." if key else ""
            raise ConfigError(f"{where}{unknown[0]}: unknown key (expected one of {', '.join(sorted(names))})")
        kwargs = {}
        for name, raw in value.items():
            kwargs[name] = _convert(hints[name], raw, f"{key}.{name}" if key else name, base, environ)
        try:
            return tp(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"{key or 'config'}: {exc}") from None
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list")
        return [_convert(item_tp, v, f"{key}[{i}]", base, environ) for i, v in enumerate(value)]
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
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp in (int, float):
        try:
            number = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"{key}: must not be negative")
        return number
    if tp is str:
        if value is None or isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected text")
        return str(value)
    raise ConfigError(f"{key}: unsupported value {value!r}")  # pragma: no cover


def parse_config(
    data: Any, *, base: Path = Path.cwd(), environ: typing.Mapping[str, str] | None = None
) -> Config:
    """Build a :class:`Config` from parsed YAML; relative paths are resolved against ``base``."""
    config = _convert(Config, data, "", base, os.environ if environ is None else environ)
    try:
        re.compile(config.status.code_pattern)
    except re.error as exc:
        raise ConfigError(f"status.code_pattern: not a valid regular expression ({exc})") from None
    if config.matching.candidate > config.matching.confident:
        raise ConfigError("matching.candidate: must not be above matching.confident")
    return config


def load_config(path: Path | None, *, environ: typing.Mapping[str, str] | None = None) -> Config:
    """Load the config file at ``path``, or the embedded defaults when ``path`` is None."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    try:
        return parse_config(data, base=path.resolve().parent, environ=environ)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
