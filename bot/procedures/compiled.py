"""A compiled copy of the catalogue, cached beside it, for a fast start and a safe one.

Parsing thousands of YAML files and building the matcher's index takes seconds; loading
the result of both from one file takes a fraction of that. :func:`open_catalogue` keys
the compiled copy by the catalogue's content (every ``*.yaml`` file's path and bytes),
the word lists the index is built from and the source code that shapes it, so any edit
rebuilds it and nothing stale is ever served while the catalogue is valid.

The compiled copy is also the *last good catalogue*: it is only ever written from a
catalogue that passed validation. When a serving command starts on a catalogue that
no longer validates, it can keep answering from that copy (and says so in the log)
instead of going offline; ``motcua validate`` still fails.

The file lives in ``<catalogue>/.cache/`` or, when that folder cannot be written, in
the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``motcua/``). A
truncated, corrupt or foreign file is ignored and rebuilt; it is written to a temporary
file and renamed into place, so readers never see half of one. Only plain values, dates,
paths and the catalogue's own dataclasses and enums are unpickled from it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import gc
import hashlib
import io
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from bot.errors import CatalogueError
from bot.procedures import catalogue as catalogue_module
from bot.procedures import lexicon as lexicon_module
from bot.procedures import matcher as matcher_module
from bot.procedures import ngrams as ngrams_module
from bot.procedures import normalize as normalize_module
from bot.procedures import overlay as overlay_module
from bot.procedures.catalogue import Catalogue, Family, Procedure, load_catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import MatcherIndex, build_index
from bot.procedures.normalize import Normalizer

log = logging.getLogger(__name__)

#: Bump when the file layout below changes (code changes are caught by the source hash).
CACHE_FORMAT = 2
CACHE_FOLDER = ".cache"
CACHE_FILE = "compiled-catalogue.pickle"
_MAGIC = b"motcua compiled catalogue\n"
#: How many of a broken catalogue's problems the start-up warning names.
WARN_PROBLEMS = 2
#: A temporary file this old was left by a writer that died (a live one takes seconds).
LEFTOVER_SECONDS = 600

# The modules whose code decides what is compiled: any change to them rebuilds the cache.
_SHAPING_MODULES = (
    catalogue_module, matcher_module, ngrams_module, normalize_module, lexicon_module, overlay_module,
    sys.modules[__name__],
)
# The data files the matcher's index is built from.
_DATA_FILES = (normalize_module.DEFAULT_SHORTHAND, lexicon_module.DEFAULT_LEXICON)


@dataclass(frozen=True)
class CompiledCatalogue:
    """A catalogue ready to serve, with the matcher's prebuilt index."""

    catalogue: Catalogue
    index: MatcherIndex
    #: "cache" (loaded compiled), "built" (parsed and compiled now) or "last-good".
    origin: str
    #: When serving the last good copy: the current catalogue's problems.
    problems: tuple[str, ...] = ()
    #: When the served copy was compiled (UTC, ISO 8601).
    compiled_at: str = ""


def user_cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user cache folder for motcua (``$XDG_CACHE_HOME/motcua`` or ``~/.cache/motcua``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "motcua"


def cache_locations(directory: Path, user_root: Path | None = None) -> list[Path]:
    """Where the compiled copy of the catalogue in ``directory`` may be, preferred first."""
    folder = directory.resolve()
    tag = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return [folder / CACHE_FOLDER / CACHE_FILE, (user_root or user_cache_root()) / tag / CACHE_FILE]


def environment_key() -> str | None:
    """A hash of what, besides the catalogue, decides the compiled result: the cache
    format, the Python version, the shaping modules' source and the word-list files;
    None when a source file cannot be read (then nothing is cached)."""
    digest = hashlib.sha256(f"format {CACHE_FORMAT} python {sys.version_info[:2]}".encode())
    try:
        for path in [Path(m.__file__ or "") for m in _SHAPING_MODULES] + list(_DATA_FILES):
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def _catalogue_files(directory: Path) -> dict[str, Path]:
    """The files load_catalogue reads, by their path relative to ``directory`` (POSIX)."""
    root = str(directory)
    skip = 0 if root == "." else len(root.rstrip(os.sep)) + 1
    return {str(path)[skip:].replace(os.sep, "/"): path for path in directory.rglob("*.yaml")}


def content_key(directory: Path, files: dict[str, Path] | None = None) -> str:
    """A hash of every ``*.yaml`` file under ``directory``: relative path and bytes."""
    files = _catalogue_files(directory) if files is None else files
    digest = hashlib.sha256()
    for rel in sorted(files):
        with open(files[rel], "rb") as fh:  # plain open: pathlib is slow per file
            data = fh.read()
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cycle collector while millions of long-lived objects are made at once:
    it would scan them over and over for nothing (about half of the load time). Then
    freeze what exists: the catalogue lives as long as the process, and a full collection
    scanning it (about 50 ms at 5,000 procedures) would stall whichever message it hit.
    Frozen objects are still freed when nothing refers to them (the catalogue has no
    reference cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _shared(value: Any, seen: dict[Any, Any]) -> Any:
    """``value`` with equal strings (and tuples of strings) replaced by one shared object:
    entries repeat texts (offices, legal bases, documents), so the compiled file is
    smaller, loads faster and the running bot holds each text once."""
    if isinstance(value, str):
        return seen.setdefault(value, value)
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return seen.setdefault(value, tuple(seen.setdefault(v, v) for v in value))
    return value


# Where the types of catalogue entries' values may come from.
_VALUE_MODULES = ("bot.procedures.", "bot.messages")


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain values, dates, paths and the catalogue's own dataclasses and enums
    only: a file planted in the cache folder cannot run code."""

    _ALLOWED = {
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("pathlib", "PosixPath"),
        ("pathlib", "WindowsPath"),
        ("pathlib", "PurePosixPath"),
        ("pathlib", "PureWindowsPath"),
        ("decimal", "Decimal"),
        ("builtins", "frozenset"),
        ("builtins", "set"),
        ("builtins", "complex"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if module.startswith(_VALUE_MODULES):
            found = super().find_class(module, name)
            if isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a compiled catalogue")


@dataclass(frozen=True)
class _Stored:
    """What a compiled file holds."""

    content: str
    environment: str
    payload: dict[str, Any] | None  # None when only the header was read


def _read(path: Path, *, want: tuple[str, str] | None = None) -> _Stored | None:
    """The compiled file at ``path``, or None if it is missing, foreign or damaged.
    With ``want`` (content and environment keys), a file with other keys is returned
    without its payload (not unpickled)."""
    try:
        with path.open("rb") as fh:
            if fh.readline() != _MAGIC:
                return None
            keys = fh.readline().split()
            if len(keys) != 2 or not all(len(k) == 64 for k in keys):
                return None
            content, environment = (k.decode("ascii") for k in keys)
            if want is not None and want != (content, environment):
                return _Stored(content, environment, None)
            with _no_gc():
                payload = _SafeUnpickler(io.BytesIO(fh.read())).load()
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - any damage means "no usable copy"
        log.info("ignoring unusable compiled catalogue %s (%s)", path, type(exc).__name__)
        return None
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        log.info("ignoring compiled catalogue %s of another format", path)
        return None
    return _Stored(content, environment, payload)


def _encode(catalogue: Catalogue, index: MatcherIndex, directory: Path) -> dict[str, Any]:
    """The catalogue's entries (column per dataclass field; paths relative to
    ``directory``) and the index's fields, as plain structures."""
    entries = list(catalogue)
    names = [f.name for f in dataclasses.fields(Procedure)]
    columns: dict[str, list[Any]] = {}
    relative: list[str] = []
    seen: dict[Any, Any] = {}
    for name in names:
        values = [getattr(p, name) for p in entries]
        values = [_shared(v, seen) for v in values]
        if any(isinstance(v, PurePath) for v in values):
            try:
                values = [None if v is None else Path(v).relative_to(directory).as_posix() for v in values]
                relative.append(name)
            except ValueError:
                pass  # a path outside the catalogue folder is kept as it is
        columns[name] = values
    return {
        "format": CACHE_FORMAT,
        "compiled_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "count": len(entries),
        "columns": columns,
        "relative_paths": relative,
        "families": list(catalogue.families.values()),
        "index": {f.name: getattr(index, f.name) for f in dataclasses.fields(MatcherIndex)},
    }


def _decode_catalogue(
    payload: dict[str, Any], directory: Path, *, same_code: bool, files: dict[str, Path] | None = None
) -> Catalogue:
    """The catalogue stored in ``payload`` (raises if it does not fit today's Procedure).

    ``same_code``: compiled by this very code, so every field is there and valid and the
    entries can be restored as unpickling would, without running ``__init__`` again.
    ``files``: the catalogue's files by relative path, reused for the entries' paths."""
    columns: dict[str, list[Any]] = payload["columns"]
    count: int = payload["count"]
    if any(len(values) != count for values in columns.values()):
        raise ValueError("columns of different lengths")
    known_paths = files or {}
    for name in payload["relative_paths"]:
        columns[name] = [
            None if v is None else known_paths.get(v) or directory / v for v in columns[name]
        ]
    fields = dataclasses.fields(Procedure)
    names = list(columns)
    if same_code and not hasattr(Procedure, "__slots__") and names == [f.name for f in fields]:
        new = object.__new__
        procs = []
        for row in zip(*columns.values()):
            proc = new(Procedure)
            proc.__dict__.update(zip(names, row))
            procs.append(proc)
    else:
        known = {f.name for f in fields if f.init}
        names = [n for n in columns if n in known]
        procs = [Procedure(**dict(zip(names, row))) for row in zip(*(columns[n] for n in names))]
    if len(procs) != count:
        raise ValueError("entry count differs")
    families = payload.get("families") or []
    if not all(isinstance(f, Family) for f in families):
        raise ValueError("families of another shape")
    return Catalogue({p.id: p for p in procs}, {f.id: f for f in families})


def _decode_index(payload: dict[str, Any], catalogue: Catalogue) -> MatcherIndex:
    """The matcher index stored in ``payload``, checked to be ``catalogue``'s."""
    index = MatcherIndex(**payload["index"])
    if index.proc_ids != list(catalogue.procedures):
        raise ValueError("index of another catalogue")
    return index


def _build_index(catalogue: Catalogue) -> MatcherIndex:
    """The matcher index for ``catalogue`` with the bundled word lists (what Engine.build uses)."""
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    with _no_gc():
        return build_index(catalogue, normalizer, lexicon)


def _write(locations: list[Path], content: str, environment: str, payload: dict[str, Any]) -> Path | None:
    """Write the compiled file to the first location that accepts it, atomically."""
    blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    header = _MAGIC + f"{content} {environment}\n".encode("ascii")
    for target in locations:
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".compiled-", suffix=".tmp")
            os.chmod(tmp, 0o644)  # the catalogue is public; let the service user read it
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _remove_leftovers(target.parent)
            return target
        except OSError as exc:
            log.debug("cannot write compiled catalogue to %s (%s)", target, exc.strerror or exc)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    log.warning("could not cache the compiled catalogue (folders not writable); start-up stays slow")
    return None


def _remove_leftovers(folder: Path) -> None:
    """Remove temporary files that a killed writer left behind (not a running one's)."""
    cutoff = dt.datetime.now().timestamp() - LEFTOVER_SECONDS
    for leftover in folder.glob(".compiled-*.tmp"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass


def _warn_last_good(directory: Path, problems: list[str], served: CompiledCatalogue) -> None:
    # The first problem of each of the first files, so that one line shows where to look.
    first: dict[str, str] = {}
    for problem in problems:
        first.setdefault(problem.split(":", 1)[0], problem)
    shown = list(first.values())[:WARN_PROBLEMS]
    named = "; ".join(shown)
    more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
    log.warning(
        "catalogue %s has %d problem(s): %s%s; serving the last good catalogue "
        "(%d entries, compiled %s) until it is fixed; `motcua validate` lists every problem",
        directory, len(problems), named, more, len(served.catalogue), served.compiled_at,
    )


def open_catalogue(
    directory: Path, *, last_good: bool = False, user_root: Path | None = None, overlay: Path | None = None
) -> CompiledCatalogue:
    """The catalogue in ``directory`` with its matcher index, from the compiled cache
    when it matches the files, else parsed, validated, indexed and cached.

    When the catalogue does not validate, raises :class:`CatalogueError`, unless
    ``last_good`` is set and a compiled copy exists: that copy is served and one
    warning is logged. ``user_root`` overrides the per-user cache folder. With
    ``overlay`` (a commune's overlay folder, :mod:`bot.procedures.overlay`), the base
    with that overlay applied, cached in the overlay folder and keyed by both.
    """
    locations = cache_locations(overlay if overlay is not None else directory, user_root)
    environment = environment_key()
    content: str | None = None
    files: dict[str, Path] = {}
    if directory.is_dir() and (overlay is None or overlay.is_dir()):
        try:
            files = _catalogue_files(directory)
            content = content_key(directory, files)
            if overlay is not None:
                extra = _catalogue_files(overlay)
                content = hashlib.sha256(f"{content} {content_key(overlay, extra)}".encode()).hexdigest()
                files.update({str(path): path for path in extra.values()})
        except OSError:
            content = None  # unreadable file: load_catalogue names it
    if content is not None and environment is not None:
        for path in locations:
            stored = _read(path, want=(content, environment))
            if stored is None or stored.payload is None:
                continue
            try:
                with _no_gc():
                    catalogue = _decode_catalogue(stored.payload, directory, same_code=True, files=files)
                    index = _decode_index(stored.payload, catalogue)
            except Exception as exc:  # noqa: BLE001 - a damaged copy is rebuilt
                log.info("ignoring compiled catalogue %s (%s)", path, type(exc).__name__)
                continue
            return CompiledCatalogue(catalogue, index, "cache", compiled_at=stored.payload["compiled_at"])

    try:
        catalogue = load_catalogue(directory) if overlay is None else overlay_module.load_overlaid(directory, overlay)
    except CatalogueError as exc:
        served = _last_good(locations, directory, environment) if last_good else None
        if served is None:
            raise
        served = dataclasses.replace(served, problems=tuple(exc.problems))
        _warn_last_good(directory, exc.problems, served)
        return served
    index = _build_index(catalogue)
    payload = _encode(catalogue, index, directory)
    if content is not None and environment is not None:
        _write(locations, content, environment, payload)
    return CompiledCatalogue(catalogue, index, "built", compiled_at=payload["compiled_at"])


def _last_good(locations: list[Path], directory: Path, environment: str | None) -> CompiledCatalogue | None:
    """The most recently compiled usable copy among ``locations``, or None."""
    found: list[tuple[str, CompiledCatalogue]] = []
    for path in locations:
        stored = _read(path)
        if stored is None or stored.payload is None:
            continue
        try:
            same_code = stored.environment == environment
            catalogue = _decode_catalogue(stored.payload, directory, same_code=same_code)
            if same_code:
                index = _decode_index(stored.payload, catalogue)
            else:  # compiled by another version of the code: its index may not fit
                index = _build_index(catalogue)
        except Exception as exc:  # noqa: BLE001 - an unusable copy is no last good copy
            log.info("compiled catalogue %s cannot be served (%s)", path, type(exc).__name__)
            continue
        at = str(stored.payload.get("compiled_at", ""))
        found.append((at, CompiledCatalogue(catalogue, index, "last-good", compiled_at=at)))
    return max(found, key=lambda f: f[0])[1] if found else None
