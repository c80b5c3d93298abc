"""The compiled catalogue cache: keyed by content, rebuilt when damaged, the last good copy."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from pathlib import Path

import pytest

from bot.config import MatchingConfig
from bot.errors import CatalogueError
from bot.procedures import compiled
from bot.procedures.catalogue import load_catalogue
from bot.procedures.compiled import CACHE_FILE, CACHE_FOLDER, cache_locations, open_catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Matcher, build_index
from bot.procedures.normalize import Normalizer

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the bundled catalogue that the test may change."""
    dest = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", dest, ignore=shutil.ignore_patterns(CACHE_FOLDER))
    return dest


@pytest.fixture
def user_root(tmp_path: Path) -> Path:
    return tmp_path / "user-cache"


def cache_file(folder: Path) -> Path:
    return folder / CACHE_FOLDER / CACHE_FILE


def break_file(folder: Path) -> Path:
    path = folder / "ho-tich" / "khai-sinh.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name:", "name: [", 1), encoding="utf-8")
    return path


def test_first_open_builds_and_caches_then_loads_the_same(folder: Path, user_root: Path) -> None:
    first = open_catalogue(folder, user_root=user_root)
    assert first.origin == "built" and cache_file(folder).is_file()
    second = open_catalogue(folder, user_root=user_root)
    assert second.origin == "cache"
    assert list(second.catalogue.procedures.items()) == list(load_catalogue(folder).procedures.items())
    assert second.catalogue.families == load_catalogue(folder).families and second.catalogue.families
    assert second.index == first.index
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    fresh = Matcher(load_catalogue(folder), normalizer, lexicon, MatchingConfig())
    cached = Matcher(second.catalogue, normalizer, lexicon, MatchingConfig(), second.index)
    for q in ["lam giay khai sinh can gi", "dk ket hon", "sao y chung thuc", "giá vàng"]:
        assert [(m.procedure, m.score) for m in cached.rank(q)] == [(m.procedure, m.score) for m in fresh.rank(q)]


def test_any_edit_to_the_catalogue_rebuilds(folder: Path, user_root: Path) -> None:
    open_catalogue(folder, user_root=user_root)
    path = folder / "ho-tich" / "khai-sinh.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: ", "name: Mới ", 1), encoding="utf-8")
    after = open_catalogue(folder, user_root=user_root)
    assert after.origin == "built"
    assert after.catalogue.get("khai-sinh").name.startswith("Mới ")
    (folder / "ho-tich" / "khai-sinh.yaml").rename(folder / "chung-thuc" / "khai-sinh.yaml")
    moved = open_catalogue(folder, user_root=user_root)
    assert moved.origin == "built" and moved.catalogue.get("khai-sinh").path.parent.name == "chung-thuc"
    assert open_catalogue(folder, user_root=user_root).origin == "cache"


def test_a_changed_word_list_rebuilds(folder: Path, user_root: Path, tmp_path: Path, monkeypatch) -> None:
    shorthand = tmp_path / "shorthand.yaml"
    shutil.copy(ROOT / "bot" / "procedures" / "data" / "shorthand.yaml", shorthand)
    monkeypatch.setattr(compiled, "_DATA_FILES", (shorthand,))
    open_catalogue(folder, user_root=user_root)
    assert open_catalogue(folder, user_root=user_root).origin == "cache"
    shorthand.write_text(shorthand.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert open_catalogue(folder, user_root=user_root).origin == "built"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:40] + b"\xff" * 200 + data[240:],  # corrupt
        lambda data: b"",  # empty
        lambda data: pickle.dumps({"something": "else"}),  # foreign
        lambda data: b"\n".join(data.split(b"\n", 2)[:2]) + b"\n" + pickle.dumps({"format": 99}),  # other format
    ],
    ids=["truncated", "corrupt", "empty", "foreign", "other-format"],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(folder: Path, user_root: Path, damage) -> None:
    open_catalogue(folder, user_root=user_root)
    path = cache_file(folder)
    path.write_bytes(damage(path.read_bytes()))
    rebuilt = open_catalogue(folder, user_root=user_root)
    assert rebuilt.origin == "built" and len(rebuilt.catalogue) == len(load_catalogue(folder))
    assert open_catalogue(folder, user_root=user_root).origin == "cache"


class _Planted:
    """Unpickling this runs os.remove on a file: what a planted cache file could do."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    def __reduce__(self):
        return (os.remove, (str(self.victim),))


def test_a_planted_cache_file_cannot_run_code(folder: Path, user_root: Path, tmp_path: Path) -> None:
    open_catalogue(folder, user_root=user_root)
    victim = tmp_path / "victim.txt"
    victim.write_text("still here", encoding="utf-8")
    path = cache_file(folder)
    header = b"\n".join(path.read_bytes().split(b"\n", 2)[:2]) + b"\n"  # right keys
    path.write_bytes(header + pickle.dumps({"format": compiled.CACHE_FORMAT, "x": _Planted(victim)}))
    assert open_catalogue(folder, user_root=user_root).origin == "built"
    assert victim.read_text(encoding="utf-8") == "still here"
    break_file(folder)  # nor when it is read as the last good copy
    path.write_bytes(header + pickle.dumps({"format": compiled.CACHE_FORMAT, "x": _Planted(victim)}))
    with pytest.raises(CatalogueError):
        open_catalogue(folder, last_good=True, user_root=user_root)
    assert victim.exists()


def test_an_unwritable_catalogue_folder_caches_per_user(folder: Path, user_root: Path) -> None:
    (folder / CACHE_FOLDER).write_text("a file where the cache folder would go", encoding="utf-8")
    assert open_catalogue(folder, user_root=user_root).origin == "built"
    user_file = cache_locations(folder, user_root)[1]
    assert user_file.is_file() and user_file.is_relative_to(user_root)
    assert open_catalogue(folder, user_root=user_root).origin == "cache"
    assert not any(user_file.parent.glob("*.tmp"))


def test_a_broken_catalogue_serves_the_last_good_copy_and_warns(
    folder: Path, user_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = open_catalogue(folder, user_root=user_root)
    broken = break_file(folder)
    (folder / "ho-tich" / "extra.yaml").write_text("id: extra\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.procedures.compiled"):
        served = open_catalogue(folder, last_good=True, user_root=user_root)
    assert served.origin == "last-good"
    assert served.catalogue.procedures == good.catalogue.procedures and served.index == good.index
    assert any(str(broken) in p for p in served.problems)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert f"{broken}:" in warnings[0] and f"{folder / 'ho-tich' / 'extra.yaml'}:1:" in warnings[0]
    assert "last good catalogue" in warnings[0] and f"has {len(served.problems)} problem(s)" in warnings[0]
    assert "motcua validate" in warnings[0] and "more)" in warnings[0]
    with pytest.raises(CatalogueError):  # validation still fails
        open_catalogue(folder, user_root=user_root)
    with pytest.raises(CatalogueError):
        load_catalogue(folder)


def test_the_last_good_copy_survives_a_failed_validation(folder: Path, user_root: Path) -> None:
    open_catalogue(folder, user_root=user_root)
    break_file(folder)
    for _ in range(2):  # serving it does not overwrite or drop it
        assert open_catalogue(folder, last_good=True, user_root=user_root).origin == "last-good"


def test_last_good_compiled_by_other_code_gets_a_fresh_index(folder: Path, user_root: Path, monkeypatch) -> None:
    good = open_catalogue(folder, user_root=user_root)
    monkeypatch.setattr(compiled, "environment_key", lambda: "0" * 64)
    break_file(folder)
    served = open_catalogue(folder, last_good=True, user_root=user_root)
    assert served.origin == "last-good" and served.catalogue.procedures == good.catalogue.procedures
    normalizer = Normalizer.default()
    assert served.index == build_index(good.catalogue, normalizer, Lexicon.load(normalizer))


def test_without_a_last_good_copy_a_broken_catalogue_fails(folder: Path, user_root: Path) -> None:
    break_file(folder)
    with pytest.raises(CatalogueError) as exc:
        open_catalogue(folder, last_good=True, user_root=user_root)
    assert any("khai-sinh.yaml" in p for p in exc.value.problems)
    assert not cache_file(folder).exists()  # a broken catalogue is never cached


def test_loaded_entries_share_repeated_texts_and_leave_the_collector_on(folder: Path, user_root: Path) -> None:
    import gc

    open_catalogue(folder, user_root=user_root)
    gc.unfreeze()
    loaded = open_catalogue(folder, user_root=user_root).catalogue
    assert gc.get_freeze_count() > len(loaded)  # not scanned by every full collection
    wheres = [p.where for p in loaded]
    assert len(set(wheres)) < len(wheres)  # the bundled entries repeat their office
    assert len({id(w) for w in wheres}) == len(set(wheres))
    assert gc.isenabled()


def test_unreadable_code_or_word_lists_disable_the_cache(folder: Path, user_root: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(compiled, "_DATA_FILES", (tmp_path / "gone.yaml",))
    assert compiled.environment_key() is None
    assert open_catalogue(folder, user_root=user_root).origin == "built"
    assert open_catalogue(folder, user_root=user_root).origin == "built"  # never a stale copy
    assert not cache_file(folder).exists()


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(folder: Path, user_root: Path) -> None:
    (folder / CACHE_FOLDER).mkdir()
    old = folder / CACHE_FOLDER / ".compiled-dead.tmp"
    fresh = folder / CACHE_FOLDER / ".compiled-writing.tmp"
    for path in (old, fresh):
        path.write_bytes(b"half a file")
    os.utime(old, (0, 0))
    assert open_catalogue(folder, user_root=user_root).origin == "built"
    assert not old.exists() and fresh.exists()  # a writer may still be busy with that one
