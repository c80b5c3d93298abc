"""Look-up limits that keep anyone from reading out the dossier database.

Every code looked up counts once (found or not), against the user who sent it and against
the chat it came from (all users of a group chat share the chat's allowance):

- ``status.lookups_per_minute`` look-ups in any 60 seconds;
- ``status.max_misses`` unknown codes (or wrong phone digits) in any 10 minutes;
- ``status.codes_per_hour`` and ``status.codes_per_day`` *different* codes in any hour
  and any 24 hours: checking one's own dossier again and again never runs into these,
  guessing codes does, whether the guesses exist or not;
- optionally, ``status.codes_per_hour_all`` different codes for everyone together in any
  hour (against guessing spread over many accounts; 0, the default, means no such limit).

The counts live in memory and in the database (:meth:`Store.record_lookups`), so that a
restart does not reset them. Writing them never waits on a sync: when the database is
busy (or cannot be written at all) they are kept and written with a later look-up.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from bot.config import StatusConfig
from bot.dossiers.store import DossierStore, LookupCode, LookupCount, StoreBusy

#: Seconds over which look-ups are counted against ``status.lookups_per_minute``.
RATE_WINDOW = 60
#: Seconds over which unknown codes are counted against ``status.max_misses``.
MISS_WINDOW = 600
HOUR = 3600
DAY = 86400
#: Seconds between removals of expired counters from the database.
FORGET_EVERY = 600

log = logging.getLogger(__name__)


class Limit(Enum):
    """Which limit refused a look-up."""

    RATE = "rate"
    MISSES = "misses"
    HOUR = "hour"
    DAY = "day"
    ALL = "all"


@dataclass(frozen=True)
class Refused:
    """A refused look-up: which limit, and in how many seconds it frees up."""

    limit: Limit
    wait: float


@dataclass(frozen=True)
class Limits:
    """The allowances of one user or one chat."""

    per_minute: int
    misses: int
    per_hour: int
    per_day: int
    #: Different codes for all users together per hour; 0: no such limit.
    all_per_hour: int = 0

    @classmethod
    def of(cls, status: StatusConfig) -> Limits:
        """The limits configured under ``status:`` (each at least 1)."""
        return cls(
            per_minute=max(1, status.lookups_per_minute),
            misses=max(1, status.max_misses),
            per_hour=max(1, status.codes_per_hour),
            per_day=max(1, status.codes_per_day),
            all_per_hour=status.codes_per_hour_all,
        )


def code_key(code: str) -> int:
    """A 64-bit hash of a code: the counters record which codes were asked, not the codes."""
    digest = hashlib.blake2b(code.encode("utf-8"), digest_size=8, person=b"motcua-lookup").digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Scope:
    """What one user or chat looked up recently."""

    seconds: dict[int, list[int]] = field(default_factory=dict)  # second -> [lookups, misses]
    codes: dict[int, int] = field(default_factory=dict)  # code key -> last second looked up


#: The scope of everyone's look-ups together (for ``status.codes_per_hour_all``).
EVERYONE = "*"


class LookupLimiter:
    """Counts look-ups per scope ("u:<channel>:<user>", "c:<channel>:<chat>") and refuses
    those over the limits."""

    def __init__(self, store: DossierStore, limits: Limits, clock: Callable[[], float]) -> None:
        self._store = store
        self._limits = limits
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}
        self._loaded = False
        self._dirty_counts: dict[tuple[str, int], list[int]] = {}
        self._dirty_codes: dict[tuple[str, int], int] = {}
        self._next_forget = 0.0

    def _now(self) -> int:
        return int(self._clock())

    async def load(self) -> None:
        """Read the recent counters from the database (once; later calls do nothing)."""
        if self._loaded:
            return
        now = self._now()
        counts, codes = await self._store.lookup_counters(now - MISS_WINDOW, now - DAY)
        if self._loaded:  # another message loaded them meanwhile
            return
        for c in counts:
            pair = self._scope(c.scope).seconds.setdefault(c.second, [0, 0])
            pair[0] += c.lookups
            pair[1] += c.misses
        for k in codes:
            scope = self._scope(k.scope)
            scope.codes[k.code_key] = max(scope.codes.get(k.code_key, 0), k.seen)
        self._loaded = True

    def check(self, scopes: Sequence[str], code: str | None) -> Refused | None:
        """Why looking up ``code`` (None: a phone-digits reply) now would be refused for
        any of ``scopes``, or None when it is allowed."""
        now = self._now()
        key = code_key(code) if code is not None else None
        worst: Refused | None = None
        for name in scopes:
            refused = self._check_one(self._scopes.get(name), now, key)
            if refused is not None and (worst is None or refused.wait > worst.wait):
                worst = refused
        if worst is None and key is not None and self._limits.all_per_hour > 0:
            worst = self._check_everyone(now, key)
        return worst

    def _check_everyone(self, now: int, key: int) -> Refused | None:
        scope = self._scopes.get(EVERYONE)
        if scope is None:
            return None
        last = scope.codes.get(key)
        if last is not None and last > now - HOUR:
            return None  # someone asked about this one within the hour: nothing new
        seen = [t for t in scope.codes.values() if t > now - HOUR]
        if len(seen) >= self._limits.all_per_hour:
            return Refused(Limit.ALL, min(seen) + HOUR - now)
        return None

    def _check_one(self, scope: _Scope | None, now: int, key: int | None) -> Refused | None:
        if scope is None:
            return None
        limits = self._limits
        miss_times = [s for s, (_, m) in scope.seconds.items() if m and s > now - MISS_WINDOW]
        misses = sum(scope.seconds[s][1] for s in miss_times)
        if misses >= limits.misses:
            return Refused(Limit.MISSES, min(miss_times) + MISS_WINDOW - now)
        recent = [s for s, (n, _) in scope.seconds.items() if n and s > now - RATE_WINDOW]
        if sum(scope.seconds[s][0] for s in recent) >= limits.per_minute:
            return Refused(Limit.RATE, min(recent) + RATE_WINDOW - now)
        if key is None:
            return None
        last = scope.codes.get(key)
        for window, allowed, limit in ((HOUR, limits.per_hour, Limit.HOUR), (DAY, limits.per_day, Limit.DAY)):
            if last is not None and last > now - window:
                continue  # asked again: not a new code in this window
            seen = [t for t in scope.codes.values() if t > now - window]
            if len(seen) >= allowed:
                return Refused(limit, min(seen) + window - now)
        return None

    def lookup(self, scopes: Sequence[str], code: str | None) -> None:
        """Count one look-up of ``code`` (None: a phone-digits reply) for each of ``scopes``."""
        now = self._now()
        key = code_key(code) if code is not None else None
        for name in scopes:
            scope = self._scope(name)
            scope.seconds.setdefault(now, [0, 0])[0] += 1
            self._dirty_counts.setdefault((name, now), [0, 0])[0] += 1
            if key is not None:
                scope.codes[key] = now
                self._dirty_codes[(name, key)] = now
        if key is not None and self._limits.all_per_hour > 0:
            self._scope(EVERYONE).codes[key] = now
            self._dirty_codes[(EVERYONE, key)] = now

    def miss(self, scopes: Sequence[str]) -> None:
        """Count one unknown code (or wrong phone digits) for each of ``scopes``."""
        now = self._now()
        for name in scopes:
            self._scope(name).seconds.setdefault(now, [0, 0])[1] += 1
            self._dirty_counts.setdefault((name, now), [0, 0])[1] += 1

    async def flush(self) -> None:
        """Write the counts not yet in the database; when a sync holds it (or the write
        fails), keep them for a later call: the limits hold meanwhile, from memory. Also
        forgets expired counters, in memory and (now and then) on disk."""
        now = self._now()
        forget = now >= self._next_forget
        if forget:
            self._forget(now)
        if not (self._dirty_counts or self._dirty_codes or forget):
            return
        counts, codes = self._dirty_counts, self._dirty_codes
        self._dirty_counts, self._dirty_codes = {}, {}
        try:
            await self._store.record_lookups(
                [LookupCount(s, t, n, m) for (s, t), (n, m) in counts.items()],
                [LookupCode(s, k, t) for (s, k), t in codes.items()],
                forget_counts_before=now - MISS_WINDOW if forget else None,
                forget_codes_before=now - DAY if forget else None,
            )
        except BaseException as exc:
            # Put them back, merged with what was counted meanwhile.
            for k, (n, m) in counts.items():
                pair = self._dirty_counts.setdefault(k, [0, 0])
                pair[0] += n
                pair[1] += m
            for k, t in codes.items():
                self._dirty_codes[k] = max(self._dirty_codes.get(k, 0), t)
            if isinstance(exc, StoreBusy):
                return
            if isinstance(exc, (sqlite3.Error, *self._store.database_errors)):
                # The first line only: a server's detail lines may quote the row (a user id).
                log.warning("look-up counters not saved, kept in memory (%s)", str(exc).partition("\n")[0])
                return
            raise
        if forget:
            self._next_forget = now + FORGET_EVERY

    def _scope(self, name: str) -> _Scope:
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = _Scope()
        return scope

    def _forget(self, now: int) -> None:
        for name in list(self._scopes):
            scope = self._scopes[name]
            scope.seconds = {s: v for s, v in scope.seconds.items() if s > now - MISS_WINDOW}
            keep = HOUR if name == EVERYONE else DAY  # everyone's codes count per hour only
            scope.codes = {k: t for k, t in scope.codes.items() if t > now - keep}
            if not (scope.seconds or scope.codes):
                del self._scopes[name]
        # Counts that could not be written meanwhile are of no use once expired.
        self._dirty_counts = {k: v for k, v in self._dirty_counts.items() if k[1] > now - MISS_WINDOW}
        self._dirty_codes = {k: t for k, t in self._dirty_codes.items() if t > now - DAY}
