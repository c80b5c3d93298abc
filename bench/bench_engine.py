"""Benchmark of catalogue loading and question answering through the dialogue engine.

Generates a synthetic catalogue of N procedures (default 5,000) as YAML files, built
from the bundled entries with added distinguishing words, then measures:

* load: reading and validating every file (``load_catalogue``) and building the engine;
* per-question latency (p50, p99) and messages per second of ``Engine.handle`` on M
  varied questions (default 2,000): the evaluation set's questions, alias phrasings
  with typos and dropped diacritics, follow-ups, and out-of-scope text.

    .venv/bin/python bench/bench_engine.py [--procedures N] [--questions M]

Targets on one core: load <= 2 s, p50 <= 2 ms, p99 <= 10 ms at 5,000 procedures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.procedures.catalogue import load_catalogue  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.dialogue import Engine  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.procedures.normalize import fold  # noqa: E402

# Made-up syllables that make synthetic entries distinct, as place names, subjects and
# variants make real procedures distinct (about 600; each lands in ~17 of 5,000 entries).
INITIALS = "b c ch d g gh h k kh l m n ng nh p ph qu r s t th tr v x".split()
RHYMES = "a ai am an ang anh ao at au ay e em en eo et i im in inh it o oa oan oc oi om on ong ot u".split()
SYLLABLES = [i + r for i in INITIALS for r in RHYMES]


def synthetic_catalogue(folder: Path, count: int, rng: random.Random) -> None:
    """Write ``count`` procedure files derived from the bundled catalogue into ``folder``."""
    base = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "procedures").rglob("*.yaml"))]
    for k in range(count):
        entry = dict(base[k % len(base)])
        extra = " ".join(rng.sample(SYLLABLES, 2))
        entry.pop("combines", None)  # the ids it names are renamed below
        entry["id"] = f"{entry['id']}-{k}"
        entry["name"] = f"{entry['name']} {extra}"
        entry["aliases"] = [f"{a} {extra}" for a in entry["aliases"][:12]]
        sub = folder / f"f{k % 50}"
        sub.mkdir(exist_ok=True)
        (sub / f"{entry['id']}.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")


def typo(text: str, rng: random.Random) -> str:
    """``text`` without diacritics and with one letter dropped, as phones often produce."""
    words = fold(text).split()
    i = rng.randrange(len(words))
    if len(words[i]) > 3:
        j = rng.randrange(1, len(words[i]))
        words[i] = words[i][:j] + words[i][j + 1 :]
    return " ".join(words)


def questions(catalogue_dir: Path, count: int, rng: random.Random) -> list[str]:
    """``count`` varied questions for the synthetic catalogue."""
    evalset = yaml.safe_load((ROOT / "tests" / "eval" / "questions.yaml").read_text(encoding="utf-8"))
    pool = [item["q"] for item in evalset]
    aliases = [a for p in sorted(catalogue_dir.rglob("*.yaml"))[:2000] for a in yaml.safe_load(p.read_text(encoding="utf-8"))["aliases"][:2]]
    tails = ["cần giấy tờ gì", "mất bao nhiêu tiền", "mấy ngày thì có", "nộp ở đâu", "", "mẫu tờ khai"]
    out: list[str] = []
    while len(out) < count:
        kind = rng.random()
        if kind < 0.4:
            out.append(rng.choice(pool))
        elif kind < 0.8:
            out.append(f"{typo(rng.choice(aliases), rng)} {rng.choice(tails)}".strip())
        elif kind < 0.9:
            out.append(rng.choice(["thế còn lệ phí?", "mất bao lâu?", "cần mang gì", "2"]))
        else:
            out.append(rng.choice(["thời tiết ngày mai", "giá lúa hôm nay", "asdf qwer", "😂", "alo"]))
    return out


async def answer_all(engine: Engine, texts: list[str]) -> list[float]:
    """Seconds taken by each message (one chat per 5 messages, so follow-ups have context)."""
    times = []
    for i, text in enumerate(texts):
        start = time.perf_counter()
        await engine.handle(Incoming("bench", f"u{i // 5}", f"c{i // 5}", text))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procedures", type=int, default=5000)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        synthetic_catalogue(folder, args.procedures, rng)
        start = time.perf_counter()
        catalogue = load_catalogue(folder)
        loaded = time.perf_counter()
        engine = Engine.build(Config(), catalogue)
        built = time.perf_counter()
        texts = questions(folder, args.questions, rng)

    asyncio.run(answer_all(engine, texts[:50]))  # warm-up (typo cache, imports)
    times = sorted(asyncio.run(answer_all(engine, texts)))
    total = sum(times)
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    print(f"catalogue: {len(catalogue)} procedures")
    print(f"load (read + validate YAML): {loaded - start:.2f} s")
    print(f"engine build (index):        {built - loaded:.2f} s")
    print(f"load total:                  {built - start:.2f} s   (target <= 2 s)")
    print(f"questions: {len(times)}")
    print(f"latency p50: {p50 * 1000:.2f} ms   (target <= 2 ms)")
    print(f"latency p99: {p99 * 1000:.2f} ms   (target <= 10 ms)")
    print(f"throughput:  {len(times) / total:,.0f} messages/s (one core)")


if __name__ == "__main__":
    main()
