"""Office hours and holidays: what is open when, and how replies say it (fixed clocks)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.config import Holiday, OfficeHoursConfig, load_config
from bot.errors import ConfigError
from bot.staff.hours import VIETNAM, OfficeHours

DEFAULT = OfficeHours.from_config(OfficeHoursConfig())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VIETNAM)


@pytest.mark.parametrize(
    ("moment", "note"),
    [
        ("2026-12-05 10:00", "Hôm nay thứ Bảy, bộ phận một cửa nghỉ; làm việc trở lại từ 7h30 thứ Hai, 07/12."),
        ("2026-12-06 08:00", "Hôm nay Chủ nhật, bộ phận một cửa nghỉ; làm việc trở lại từ 7h30 thứ Hai, 07/12."),
        ("2026-12-02 10:00", "Hôm nay thứ Tư, bộ phận một cửa đang làm việc (đến 11h30)."),
        ("2026-12-02 12:15", "Hôm nay thứ Tư, bộ phận một cửa làm việc lại từ 13h30."),
        ("2026-12-02 06:45", "Hôm nay thứ Tư, bộ phận một cửa làm việc từ 7h30."),
        ("2026-12-04 17:00", "Hôm nay thứ Sáu, bộ phận một cửa đã hết giờ làm việc; làm việc trở lại từ 7h30 thứ Hai, 07/12."),
    ],
)
def test_a_line_about_today(moment: str, note: str) -> None:
    assert DEFAULT.today_note(at(moment)) == note


def test_the_moment_is_read_in_vietnam_time_whatever_its_zone() -> None:
    utc = datetime.fromisoformat("2026-12-05T02:30:00+00:00")  # 09:30 on Saturday in Vietnam
    assert DEFAULT.today_note(utc).startswith("Hôm nay thứ Bảy")
    assert not DEFAULT.is_open(utc)
    assert DEFAULT.is_open(datetime.fromisoformat("2026-12-04T02:30:00+00:00"))  # Friday 09:30


def test_a_hand_over_out_of_hours_says_when_staff_answer() -> None:
    assert DEFAULT.answer_expected(at("2026-12-05 10:00")) == (
        "Hiện ngoài giờ làm việc; cán bộ sẽ trả lời từ 7h30 thứ Hai, 07/12."
    )
    assert DEFAULT.answer_expected(at("2026-12-02 12:00")) == (
        "Hiện ngoài giờ làm việc; cán bộ sẽ trả lời từ 13h30 hôm nay."
    )
    assert DEFAULT.answer_expected(at("2026-12-02 09:00")) is None


def test_holidays_close_the_desk_and_move_the_next_opening() -> None:
    hours = OfficeHours.from_config(
        OfficeHoursConfig(holidays=[Holiday("2027-01-01", "Tết Dương lịch"), Holiday("2027-02-05", "Tết", "2027-02-10")])
    )
    assert hours.today_note(at("2027-01-01 09:00")) == (
        "Hôm nay thứ Sáu, 01/01, là ngày nghỉ Tết Dương lịch, bộ phận một cửa nghỉ; "
        "làm việc trở lại từ 7h30 thứ Hai, 04/01."
    )
    assert not hours.is_open(at("2027-02-08 09:00"))
    assert hours.answer_expected(at("2027-02-04 18:00")) == (
        "Hiện ngoài giờ làm việc; cán bộ sẽ trả lời từ 7h30 thứ Năm, 11/02."
    )


def test_a_saturday_morning_schedule() -> None:
    hours = OfficeHours.from_config(OfficeHoursConfig(saturday=["07:30-11:30"]))
    assert hours.today_note(at("2026-12-05 10:00")) == "Hôm nay thứ Bảy, bộ phận một cửa đang làm việc (đến 11h30)."
    assert hours.next_opening(at("2026-12-04 18:00")) == at("2026-12-05 07:30")


def test_a_desk_that_never_opens_says_so_kindly() -> None:
    closed = OfficeHours.from_config(OfficeHoursConfig(*([[]] * 7)))
    assert closed.today_note(at("2026-12-02 10:00")) == "Hôm nay thứ Tư, bộ phận một cửa nghỉ."
    assert "khi bộ phận một cửa làm việc trở lại" in (closed.answer_expected(at("2026-12-02 10:00")) or "")


@pytest.mark.parametrize(
    ("yaml_text", "error"),
    [
        ('office_hours:\n  monday: ["7h30-11h30"]\n', r"config\.yaml:2: office_hours\.monday\[0\]: expected a range"),
        ('office_hours:\n  friday: ["13:30-11:00"]\n', r"office_hours\.friday\[0\]: .*start before end"),
        ('office_hours:\n  friday: ["07:30-11:30", "11:00-17:00"]\n', r"office_hours\.friday\[1\]: overlaps"),
        ('office_hours:\n  holidays:\n    - { date: "01/01/2027" }\n', r"office_hours\.holidays\[0\]\.date: expected a date"),
        ('office_hours:\n  holidays:\n    - { name: "Tết" }\n', r"office_hours\.holidays\[0\]\.date: missing"),
        ('office_hours:\n  sunday: "07:30-11:30"\n', r"office_hours\.sunday: expected a list"),
        ('handover:\n  telegram_chat_id: "nhom can bo"\n', r"config\.yaml:2: handover\.telegram_chat_id: expected the group's numeric chat id"),
    ],
)
def test_bad_settings_name_the_file_line_and_key(tmp_path: Path, yaml_text: str, error: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_config(path)


def test_a_group_id_unquoted_keeps_its_minus_sign(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("handover:\n  telegram_chat_id: -1001234567890\n", encoding="utf-8")
    assert load_config(path).handover.telegram_chat_id == "-1001234567890"
