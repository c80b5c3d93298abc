"""Loading the config file: defaults, environment references, key-naming errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, load_config, parse_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_no_file_gives_the_embedded_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.catalogue.dir == ROOT / "procedures"
    assert config.channels.telegram is None


def test_example_config_documents_a_valid_configuration() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-token",
        "ZALO_BOT_TOKEN": "zalo-token",
        "ZALO_WEBHOOK_SECRET": "another-secret",
    }
    config = load_config(ROOT / "config.example.yaml", environ=env)
    assert config.channels.telegram is not None and config.channels.telegram.token == "123:abc"
    assert config.channels.zalo is not None and config.channels.zalo.token == "zalo-token"
    assert config.catalogue.dir == ROOT / "procedures"
    assert config.hamlet_heads[0].hamlet == "Thôn 3"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("database:\n  path: db/bot.sqlite3\n", encoding="utf-8")
    assert load_config(path).database.path == tmp_path / "db" / "bot.sqlite3"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"matching": {"confidnt": 80}}, "matching.confidnt: unknown key"),
        ({"matching": {"confident": "high"}}, "matching.confident: expected a number"),
        ({"matching": {"confident": 50, "candidate": 60}}, "matching.candidate"),
        ({"status": {"require_phone_digits": "maybe"}}, "status.require_phone_digits"),
        ({"status": {"code_pattern": "("}}, "status.code_pattern"),
        ({"hamlet_heads": [{"channel": "zalo", "hamlet": "Thôn 1"}]}, "hamlet_heads[0]"),
        ({"commune": "Tân Hòa"}, "commune: expected a mapping"),
        ({"channels": {"telegram": {"token": "${NOT_SET_ANYWHERE}"}}}, "channels.telegram.token"),
    ],
)
def test_bad_values_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data, environ={})


def test_environment_references_are_expanded() -> None:
    config = parse_config({"channels": {"zalo": {"token": "bot-${ZID}"}}}, environ={"ZID": "42"})
    assert config.channels.zalo is not None and config.channels.zalo.token == "bot-42"


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("commune:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: YAML syntax error"):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
