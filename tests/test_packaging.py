"""Installing the bot: declared dependencies, the wheel's contents, and an installed wheel
answering from another folder (``pip install .`` builds and installs the same wheel)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level names of the modules a file imports, outside ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


#: Modules that may import an optional extra's packages (imported only when configured;
#: tests/dossiers/test_pgstore.py checks that the SQLite default never imports them).
OPTIONAL_IMPORTS = {"bot/dossiers/pgstore.py": "postgres", "bot/storage/postgres.py": "postgres"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        _normalized(re.match(r"[A-Za-z0-9._-]+", req).group(0))  # type: ignore[union-attr]
        for req in requirements
    }


def test_every_runtime_import_is_a_declared_runtime_dependency() -> None:
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    providers = importlib.metadata.packages_distributions()
    problems = []
    for path in sorted(BOT.rglob("*.py")):
        for module in sorted(_runtime_imports(ast.parse(path.read_text(encoding="utf-8")))):
            if module in sys.stdlib_module_names or module == "bot":
                continue
            dists = {_normalized(d) for d in providers.get(module, [])}
            extra = OPTIONAL_IMPORTS.get(path.relative_to(ROOT).as_posix())
            allowed = declared | (_requirement_names(extras[extra]) if extra else set())
            if not dists & allowed:
                where = ", ".join(sorted(dists)) or "no installed distribution"
                problems.append(f"{path.relative_to(ROOT)}: imports {module} ({where}), not in [project.dependencies]")
    assert problems == []


def test_every_package_under_bot_is_listed_in_pyproject() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in BOT.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Run the whole test suite**", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.S).group(1)  # type: ignore[union-attr]
    # Besides the README's command, .ci/run may only install system packages the tests use.
    ci = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd ")) and "apt-get install" not in line
    ]
    assert ci == [command]


def _copy_source(dest: Path) -> Path:
    """The repository's files as a fresh clone has them (no venv, build output or data)."""
    skip_top = {".venv", ".git", "build", "dist", "data", ".pytest_cache", ".hypothesis"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == ROOT
        return {
            n for n in names
            if n == "__pycache__" or n.endswith((".egg-info", ".pyc")) or (top and n in skip_top)
        }

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source, offline (setuptools comes with the test extra)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_source(tmp / "src")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(tmp / "dist"), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = (tmp / "dist").glob("motcua_bot-*.whl")
    return built


@pytest.mark.packaging
def test_the_wheel_carries_every_module_data_file_and_the_bundled_catalogue(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in BOT.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            assert path.relative_to(ROOT).as_posix() in names
    for path in (ROOT / "procedures").rglob("*"):
        # Hidden folders (the compiled catalogue cache) are local, not part of the catalogue.
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            assert f"bot/_catalogue/{path.relative_to(ROOT / 'procedures').as_posix()}" in names


@pytest.mark.packaging
def test_an_installed_wheel_answers_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip())
    # The dependencies come from this test environment's site-packages (offline); its
    # editable install of the bot is not seen: .pth files there are not read from here.
    ours = dict.fromkeys((sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]))
    (purelib / "motcua-test-deps.pth").write_text("".join(f"{p}\n" for p in ours))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"))

    def motcua(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [venv / "bin" / "motcua", *args], input=stdin, capture_output=True, text=True,
            cwd=elsewhere, env=env, timeout=120,
        )

    where = subprocess.check_output([python, "-c", "import bot; print(bot.__file__)"], cwd=elsewhere, env=env, text=True)
    assert Path(where.strip()).is_relative_to(purelib)

    asked = motcua("ask", "--json", "lam giay khai sinh can gi")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["intent"] == "procedure" and answer["matches"][0]["id"] == "khai-sinh"
    assert "Giấy tờ cần chuẩn bị" in answer["reply"]

    chat = motcua("chat", stdin="khai sinh cần gì\ntra cứu hồ sơ 251120-0001\n")
    assert chat.returncode == 0, chat.stderr
    assert "Giấy tờ cần chuẩn bị" in chat.stdout and "Nguyễn V. A." in chat.stdout  # demo dossier

    validated = motcua("validate")
    assert validated.returncode == 0 and str(purelib / "bot" / "_catalogue") in validated.stdout

    # The demo database sits in the per-user data folder; nothing is written to the
    # package or to the current folder.
    assert (tmp_path / "xdg" / "motcua-bot" / "demo.sqlite3").is_file()
    assert list(elsewhere.iterdir()) == []
    assert not (purelib / "data").exists() and not list(purelib.rglob("*.sqlite3"))
