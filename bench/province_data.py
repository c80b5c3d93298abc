"""A simulated province for benchmarks and tests: communes, their config, one export.

API (importable; also a script, ``python bench/province_data.py --help``)::

    from bench.province_data import write_province
    province = write_province(out_dir, communes=150, dossiers=2_000_000, seed=1)
    province.config_path    # config.yaml with a ``communes:`` list (ids, blocks, prefixes)
    province.export_path    # export.csv: the provincial export, the columns ``motcua sync`` reads
    province.communes       # [Commune(id, name, prefix), ...]
    province.code(i)        # the code of dossier i (0-based), to look one up
    province.commune_of(i)  # the Commune dossier i belongs to
    changed = write_changed_export(province, out_dir / "export-changed.csv", fraction=0.01)

Everything is a pure function of ``seed``: the same arguments write the same bytes.
Rows are written as they are made (constant memory); 2,000,000 rows take a few seconds.

Dossier ``i`` belongs to commune ``i % communes``; within its commune it is the
``k = i // communes``-th dossier, received on day ``k // 50`` after 01/01/2025 with
sequence number ``k % 50 + 1``, so every code is unique. Agency segments (code prefixes)
are ``000.DD.CC.H56`` (DD, CC from the commune's number), all fitting the default
``status.code_pattern``. The changed export (``--changed FRACTION``) lists the same
dossiers, with that fraction (chosen by the seed) advanced one status along
new → accepted → processing → done → returned (a returned one gets a return date).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

HEADER = "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số điện thoại,Địa chỉ,Ngày tiếp nhận,Ngày hẹn trả,Ngày trả kết quả,Trạng thái\n"

#: Dossiers per commune per day (the code's sequence number runs 1..this).
PER_DAY = 50
FIRST_DAY = date(2025, 1, 1)

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
           "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
_MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thu", "Ngọc", "Quang")
_GIVEN = ("An", "Bình", "Cường", "Dung", "Em", "Giang", "Hà", "Hải", "Khánh", "Lan", "Long",
          "Mai", "Nam", "Oanh", "Phúc", "Quân", "Sơn", "Tâm", "Uyên", "Vinh", "Xuân", "Yến")
_PROCEDURES = ("Đăng ký khai sinh", "Đăng ký kết hôn", "Đăng ký khai tử",
               "Cấp Giấy xác nhận tình trạng hôn nhân", "Chứng thực di chúc",
               "Cấp bản sao Trích lục hộ tịch", "Đăng ký giám hộ", "Đăng ký lại khai sinh",
               "Chứng thực bản sao từ bản chính", "Chứng thực chữ ký")
_NAMES = ("Tân Hòa", "Bình Minh", "Đông Sơn", "Hòa Bình", "Quang Trung", "Thanh Xuân",
          "Hưng Đạo", "Phú Lộc", "An Thịnh", "Vĩnh Tường", "Kim Long", "Tiên Phong")
#: Statuses along which a changed export advances a dossier (portal labels), then the rest.
_FLOW = ("Mới đăng ký", "Được tiếp nhận", "Đang xử lý", "Đã xử lý xong", "Đã trả kết quả")
_OTHER = ("Yêu cầu bổ sung giấy tờ", "Dừng xử lý", "Công dân yêu cầu rút hồ sơ")


@dataclass(frozen=True)
class Commune:
    """One simulated commune: its config id, name and the agency segment of its codes."""

    id: str
    name: str
    prefix: str


@dataclass
class Province:
    """What :func:`write_province` wrote (and how to find a dossier in it)."""

    dir: Path
    config_path: Path
    export_path: Path
    communes: list[Commune]
    dossiers: int
    seed: int
    rows_per_second: float = field(default=0.0, compare=False)

    def commune_of(self, i: int) -> Commune:
        """The commune dossier ``i`` (0-based, in export order) belongs to."""
        return self.communes[i % len(self.communes)]

    def code(self, i: int) -> str:
        """The code of dossier ``i``."""
        k = i // len(self.communes)
        day = FIRST_DAY + timedelta(days=k // PER_DAY)
        return f"{self.commune_of(i).prefix}-{day:%y%m%d}-{k % PER_DAY + 1:04d}"


def make_communes(count: int = 150) -> list[Commune]:
    """``count`` communes: ids ``xa-001``..., distinct names and prefixes."""
    out = []
    for n in range(1, count + 1):
        base = _NAMES[(n - 1) % len(_NAMES)]
        name = base if n <= len(_NAMES) else f"{base} {(n - 1) // len(_NAMES) + 1}"
        out.append(Commune(f"xa-{n:03d}", name, f"000.{n // 100:02d}.{n % 100:02d}.H56"))
    return out


def config_snippet(communes: list[Commune]) -> str:
    """The ``communes:`` list of a config file for these communes (YAML text)."""
    lines = ["communes:"]
    for c in communes:
        lines += [
            f"  - id: {c.id}",
            "    commune:",
            f'      name: "UBND xã {c.name}"',
            f'      office: "Bộ phận Một cửa, trụ sở UBND xã {c.name}"',
            '      hours: "Sáng 7h30–11h30, chiều 13h30–17h00, thứ Hai đến thứ Sáu"',
            f'      hotline: "0210 38{int(c.id[3:]):02d} 000"',
            "    status:",
            f'      code_prefix: "{c.prefix}"',
        ]
    return "\n".join(lines) + "\n"


def _rows(communes: list[Commune], dossiers: int, seed: int, changed: float | None):
    """The export's lines, in order (a generator: constant memory)."""
    rng = random.Random(seed)
    change = random.Random(seed * 7919 + 1)
    rand, pick = rng.random, rng.choice
    n = len(communes)
    # Day strings and code stems cached: most of the time per row is formatting.
    days: list[tuple[str, str, str, str]] = []  # (yymmdd, received, appointment, returned)
    for i in range(dossiers):
        c = communes[i % n]
        k = i // n
        d = k // PER_DAY
        while d >= len(days):
            day = FIRST_DAY + timedelta(days=len(days))
            days.append((f"{day:%y%m%d}", f"{day:%d/%m/%Y}", f"{day + timedelta(days=3):%d/%m/%Y}",
                         f"{day + timedelta(days=2):%d/%m/%Y}"))
        stem, received, appointment, returned_on = days[d]
        r = rand()
        if r < 0.85:
            status = int(r / 0.17)  # 0..4 along the flow
            label = _FLOW[status]
        else:
            status = -1
            label = _OTHER[int((r - 0.85) / 0.05) % 3]
        if changed is not None and status >= 0 and status < 4 and change.random() < changed:
            status += 1
            label = _FLOW[status]
        ret = returned_on if status == 4 else ""
        name = f"{pick(_FAMILY)} {pick(_MIDDLE)} {pick(_GIVEN)}"
        phone = f"09{int(rand() * 100_000_000):08d}"
        yield (f"{c.prefix}-{stem}-{k % PER_DAY + 1:04d},{pick(_PROCEDURES)},{name},{phone},"
               f"\"Thôn {1 + int(rand() * 12)}, xã {c.name}\",{received},{appointment},{ret},{label}\n")


def _write_export(path: Path, communes: list[Commune], dossiers: int, seed: int,
                  changed: float | None) -> float:
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        chunk: list[str] = []
        for line in _rows(communes, dossiers, seed, changed):
            chunk.append(line)
            if len(chunk) >= 10_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))
    return dossiers / max(time.perf_counter() - started, 1e-9)


def write_province(dir: Path | str, communes: int = 150, dossiers: int = 2_000_000,
                   seed: int = 1) -> Province:
    """Write ``config.yaml`` (a ``communes:`` list and a database beside it) and
    ``export.csv`` (``dossiers`` rows for the whole province) into ``dir``."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    people = make_communes(communes)
    config = out / "config.yaml"
    config.write_text(
        'commune:\n  name: "UBND tỉnh (mô phỏng)"\n  office: "Trung tâm Phục vụ hành chính công"\n'
        '  hours: "Sáng 7h30–11h30"\n  hotline: "0210 3800 000"\n'
        "database:\n  path: province.sqlite3\n" + config_snippet(people),
        encoding="utf-8",
    )
    export = out / "export.csv"
    speed = _write_export(export, people, dossiers, seed, None)
    return Province(out, config, export, people, dossiers, seed, speed)


def write_changed_export(province: Province, path: Path | str, fraction: float = 0.01) -> Path:
    """The province's export again with ``fraction`` of its dossiers advanced one status
    (the same ones for the same seed and fraction)."""
    target = Path(path)
    _write_export(target, province.communes, province.dossiers, province.seed, fraction)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: write a province into a folder."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--communes", type=int, default=150)
    ap.add_argument("--dossiers", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--changed", type=float, metavar="FRACTION",
                    help="also write export-changed.csv with FRACTION of statuses advanced")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    province = write_province(args.dir, args.communes, args.dossiers, args.seed)
    print(f"{province.config_path}\n{province.export_path}: {args.dossiers:,} rows, "
          f"{len(province.communes)} communes, {time.perf_counter() - started:.1f} s")
    if args.changed is not None:
        changed = write_changed_export(province, args.dir / "export-changed.csv", args.changed)
        print(f"{changed}: {args.changed:.2%} of statuses advanced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
