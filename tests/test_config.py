"""Loading the config file: defaults, environment references, key-naming errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.config import DEMO_DOSSIERS, Config, _TextLoader, load_config, parse_config, user_data_dir
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_the_embedded_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.catalogue.dir == ROOT / "procedures"
    assert config.channels.telegram is None
    assert config.status.demo_data == DEMO_DOSSIERS  # `motcua chat` has dossiers out of the box


def test_the_demo_database_lives_in_the_per_user_data_folder(tmp_path: Path) -> None:
    assert user_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "motcua-bot"
    assert user_data_dir({}) == Path.home() / ".local" / "share" / "motcua-bot"
    assert user_data_dir({"XDG_DATA_HOME": "relative/dir"}) == Path.home() / ".local" / "share" / "motcua-bot"
    assert Config().database.path.parent == user_data_dir()


def test_a_config_file_seeds_demo_dossiers_only_when_it_names_them(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "commune:\n  name: X\n")).status.demo_data is None
    assert load_config(write(tmp_path, "status:\n  lookups_per_minute: 5\n")).status.demo_data is None
    asked = load_config(write(tmp_path, "status:\n  demo_data: demo.csv\n"))
    assert asked.status.demo_data == tmp_path / "demo.csv"


def test_a_config_file_keeps_its_database_beside_itself(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "commune:\n  name: X\n")).database.path == tmp_path / "data" / "motcua.sqlite3"
    assert load_config(write(tmp_path, "")).database.path == tmp_path / "data" / "motcua.sqlite3"


def test_unquoted_numbers_in_text_keys_are_kept_as_written(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "commune:\n  hotline: 02253567777\n  name: 1e3\n"
            "hamlet_heads:\n  - {channel: telegram, user_id: 0123456789, hamlet: 3}\n"
            "matching:\n  confident: 80\n  margin: 6.5\n"
            "status:\n  require_phone_digits: yes\n  lookups_per_minute: 010\n"
            "channels:\n  telegram:\n    webhook:\n      port: 8443\n",
        )
    )
    assert config.commune.hotline == "02253567777"  # not 313454591 (YAML 1.1 octal)
    assert config.commune.name == "1e3"
    assert config.hamlet_heads[0].user_id == "0123456789" and config.hamlet_heads[0].hamlet == "3"
    assert (config.matching.confident, config.matching.margin) == (80.0, 6.5)
    assert config.status.require_phone_digits is True and config.status.lookups_per_minute == 10
    assert config.channels.telegram is not None and config.channels.telegram.webhook.port == 8443


def test_example_config_has_no_live_sample_hamlet_heads_or_demo_data() -> None:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    config = parse_config(yaml.load(text, Loader=_TextLoader), base=ROOT, environ={}, need_tokens=False)
    assert config.hamlet_heads == []
    assert config.status.demo_data is None
    # Uncommenting the sample lines gives a valid list (and the demo line a valid path).
    live = re.sub(r"(?m)^#(  - \{|  demo_data)", r"\1", text.replace("  # demo_data", "  demo_data"))
    config = parse_config(yaml.load(live, Loader=_TextLoader), base=ROOT, environ={}, need_tokens=False)
    assert [h.hamlet for h in config.hamlet_heads] == ["Thôn 3", "Thôn 5"]
    assert config.status.demo_data is not None and config.status.demo_data.is_file()


def test_a_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "channels:\n  zalo:\n    base_url: https://x\n    token: 1234:abcdefgh\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"{path}:4: channels.zalo.token: a token must not be written in the config file; "
        'write "${ZALO_BOT_TOKEN}" and set ZALO_BOT_TOKEN in the environment'
    )
    for plain in ("bot-${ZID}", 123456):
        with pytest.raises(ConfigError, match="channels.telegram.token: a token must not be written"):
            parse_config({"channels": {"telegram": {"token": plain}}}, environ={"ZID": "1"})
    env = {"TG": "123:abc"}
    assert parse_config({"channels": {"telegram": {"token": "${TG}"}}}, environ=env).channels.telegram.token == "123:abc"


@pytest.mark.parametrize(
    ("channel", "secret", "ok"),
    [
        ("telegram", "x", False),
        ("telegram", "a" * 15, False),
        ("telegram", "a" * 16, True),
        ("telegram", "with space and more than 16", False),
        ("telegram", "Ab_-" * 64, True),
        ("telegram", "Ab_-" * 64 + "x", False),
        ("zalo", "1234567", False),
        ("zalo", "12345678", True),
        ("zalo", "any chars! " * 23, True),
        ("zalo", "x" * 257, False),
    ],
)
def test_webhook_secrets_below_the_channel_minimum_are_refused(channel: str, secret: str, ok: bool) -> None:
    data = {"channels": {channel: {"token": "${T}", "webhook": {"secret_token": "${S}"}}}}
    env = {"T": "1:a", "S": secret}
    if ok:
        parse_config(data, environ=env)
    else:
        with pytest.raises(ConfigError, match=rf"^channels\.{channel}\.webhook\.secret_token: use"):
            parse_config(data, environ=env)


def test_a_hamlet_head_without_channel_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'hamlet_heads:\n  - {channel: zalo, user_id: "1", hamlet: "Thôn 1"}\n  - {user_id: "2", hamlet: "Thôn 2"}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:3: hamlet_heads[1].channel: missing (each item needs channel, user_id, hamlet)"
    with pytest.raises(ConfigError, match=r"^hamlet_heads\[0\]\.channel: expected telegram or zalo, got 'viber'$"):
        parse_config({"hamlet_heads": [{"channel": "viber", "user_id": "1", "hamlet": "x"}]})
    with pytest.raises(ConfigError, match=r"^hamlet_heads\[0\]\.user_id: must not be empty$"):
        parse_config({"hamlet_heads": [{"channel": "zalo", "user_id": " ", "hamlet": "x"}]})


def test_unset_token_variables_are_an_error_only_when_tokens_are_needed() -> None:
    example = ROOT / "config.example.yaml"
    with pytest.raises(ConfigError, match=r"config\.example\.yaml:\d+: channels\.telegram\.token: environment variable TELEGRAM_BOT_TOKEN is not set"):
        load_config(example, environ={})
    config = load_config(example, environ={}, need_tokens=False)
    assert config.channels.telegram is not None and config.channels.telegram.token == ""
    # Only references under channels are deferred; a short secret that *is* set still fails.
    with pytest.raises(ConfigError, match="commune.name: environment variable NAME is not set"):
        parse_config({"commune": {"name": "${NAME}"}}, environ={}, need_tokens=False)
    data = {"channels": {"telegram": {"token": "${T}", "webhook": {"secret_token": "${S}"}}}}
    with pytest.raises(ConfigError, match="secret_token: use 16"):
        parse_config(data, environ={"S": "short"}, need_tokens=False)


def test_errors_in_a_file_name_the_line_of_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "commune:\n  name: X\nmatching:\n  margin: 3\n  confidnt: 80\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:5: matching\.confidnt: unknown key"):
        load_config(path)


def test_example_config_documents_a_valid_configuration() -> None:
    env = {"TELEGRAM_BOT_TOKEN": "123:abc", "ZALO_BOT_TOKEN": "zalo-token"}
    config = load_config(ROOT / "config.example.yaml", environ=env)
    assert config.channels.telegram is not None and config.channels.telegram.token == "123:abc"
    assert config.channels.zalo is not None and config.channels.zalo.token == "zalo-token"
    assert config.catalogue.dir == ROOT / "procedures"
    assert config.database.path == ROOT / "data" / "motcua.sqlite3"
    assert config.commune.hotline == "0210 3800 000"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("database:\n  path: db/bot.sqlite3\n", encoding="utf-8")
    assert load_config(path).database.path == tmp_path / "db" / "bot.sqlite3"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"matching": {"confidnt": 80}}, "matching.confidnt: unknown key"),
        ({"matching": {"confident": "high"}}, "matching.confident: expected a number"),
        ({"matching": {"margin": ".nan"}}, "matching.margin: expected a number"),
        ({"matching": {"margin": "inf"}}, "matching.margin: expected a number"),
        ({"matching": {"confident": 50, "candidate": 60}}, "matching.candidate"),
        ({"status": {"require_phone_digits": "maybe"}}, "status.require_phone_digits"),
        ({"status": {"code_pattern": "("}}, "status.code_pattern"),
        ({"hamlet_heads": [{"channel": "zalo", "hamlet": "Thôn 1"}]}, "hamlet_heads[0].user_id: missing"),
        ({"commune": "Tân Hòa"}, "commune: expected a mapping"),
        ({"channels": {"telegram": {"token": "${NOT_SET_ANYWHERE}"}}}, "channels.telegram.token"),
    ],
)
def test_bad_values_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data, environ={})


def test_environment_references_are_expanded() -> None:
    config = parse_config({"status": {"sync": {"source": "https://${HOST}/x"}}}, environ={"HOST": "h"})
    assert config.status.sync.source == "https://h/x"


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("commune:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: YAML syntax error"):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_a_file_that_is_not_a_mapping_is_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "just some words\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: config: expected a mapping, got str$"):
        load_config(path)
