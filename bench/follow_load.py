"""Issue 13, target 2: delivery with and without the follower at work, `.venv/bin/python bench/follow_load.py`.

Runs `bench/delivery.py` as separate processes (each its own fresh database, sandbox and worker), alternating
without and with followed bookings, and compares:

    fifty-tenants                                                 (today's run: nothing followed yet)
    fifty-tenants --followed 10000 --follow-interval 10           (10,000 delivered and followed first)
    latency --rate R --intake direct                              (R = half the first fifty-tenants rate)
    latency --rate R --intake direct --followed 10000 --follow-interval 10

"With" runs deliver and follow the 10,000 first, wait for every integration's first follow cycle, then start a
fresh worker whose follower cycles every 10 s while the usual measurement runs (and follows what it delivers).
Targets: the steady bookings/s with ≥ 90% of without, the join → booking p99 ≤ 110% of without (means over
--pairs). Prints markdown rows; exit status 0 only if both pass. Run on demand only, on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

BENCH = Path(__file__).resolve().parent
HEADER = "| date | scenario | db | setup | measured | target | result |\n|---|---|---|---|---|---|---|"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/follow_load.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pairs", type=int, default=1, help="without/with pairs per scenario (default 1)")
    parser.add_argument("--followed", type=int, default=10_000, help="bookings followed in the 'with' runs")
    parser.add_argument("--follow-interval", type=float, default=10.0, help="the follower's interval in 'with' runs")
    parser.add_argument("--tenants", type=int, help="delivery.py --tenants (default 50)")
    parser.add_argument("--leads", type=int, help="fifty-tenants --leads (default 20000)")
    parser.add_argument("--rate", type=float, help="latency --rate (default: half the first fifty-tenants rate)")
    parser.add_argument("--seconds", type=float, help="latency --seconds (default 30)")
    parser.add_argument(
        "--only", choices=("fifty-tenants", "latency"), help="one comparison only (latency then needs --rate)"
    )
    parser.add_argument("--json", type=Path, help="keep every run's JSON lines here (default: a temp file)")
    parser.add_argument("--keep-logs", action="store_true", help="pass --keep-logs to every run")
    return parser.parse_args(argv)


def run_one(args: argparse.Namespace, scenario: str, followed: bool, out: Path, extra: Sequence[str] = ()) -> dict:
    """One delivery.py run; its row's numbers (the last JSON line it appended)."""
    command = [sys.executable, str(BENCH / "delivery.py"), scenario, "--db", args.db, "--json", str(out), *extra]
    if args.tenants:
        command += ["--tenants", str(args.tenants)]
    if args.keep_logs:
        command.append("--keep-logs")
    if followed:
        command += ["--followed", str(args.followed), "--follow-interval", f"{args.follow_interval:g}"]
    print(f"$ {' '.join(command[1:])}", file=sys.stderr, flush=True)
    lines_before = len(out.read_text().splitlines()) if out.exists() else 0
    finished = subprocess.run(command, cwd=BENCH.parent, check=False)
    lines = out.read_text().splitlines() if out.exists() else []
    if len(lines) <= lines_before:
        raise SystemExit(
            f"{scenario} ({'with' if followed else 'without'} followed) wrote no result (exit {finished.returncode})"
        )
    row: dict[str, Any] = json.loads(lines[-1])
    row["exit"] = finished.returncode
    return row


def compare_fifty(args: argparse.Namespace, out: Path) -> tuple[list[str], float]:
    extra = ["--leads", str(args.leads)] if args.leads else []
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.pairs):
        for followed in (False, True):
            runs[followed].append(run_one(args, "fifty-tenants", followed, out, extra))
    rate = {k: mean(r["numbers"]["steady_rate"] for r in v) for k, v in runs.items()}
    cpu = {k: mean(r["numbers"]["worker_cpu_ms_per_booking"] for r in v) for k, v in runs.items()}
    change = rate[True] / rate[False] - 1
    ok = change >= -0.10
    each = {k: ", ".join(f"{r['numbers']['steady_rate']:.1f}" for r in v) for k, v in runs.items()}
    measured = (
        f"without: {rate[False]:.1f} bookings/s ({each[False]}), worker {cpu[False]:.2f} CPU ms/booking; "
        f"with {args.followed} followed: {rate[True]:.1f}/s ({each[True]}), {cpu[True]:.2f} CPU ms/booking: "
        f"**{change:+.1%}**; with-run follower: {_follower(runs[True])}"
    )
    setup = _setup(args, "fifty-tenants", runs)
    return [_row("follow load: fifty-tenants", args.db, setup, measured, "rate ≥ 90% of without", ok)], rate[False]


def compare_latency(args: argparse.Namespace, out: Path, rate: float) -> list[str]:
    extra = ["--rate", f"{rate:.0f}", "--intake", "direct"]
    if args.seconds:
        extra += ["--seconds", f"{args.seconds:g}"]
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.pairs):
        for followed in (False, True):
            runs[followed].append(run_one(args, "latency", followed, out, extra))
    p99 = {k: mean(r["numbers"]["p99_ms"] for r in v) for k, v in runs.items()}
    fed = {k: mean(r["numbers"]["fed_rate"] for r in v) for k, v in runs.items()}
    change = p99[True] / p99[False] - 1
    conclusive = all(r["verdict"] in ("pass", "**FAIL**") for v in runs.values() for r in v)
    ok = change <= 0.10
    each = {k: ", ".join(str(r["numbers"]["p99_ms"]) for r in v) for k, v in runs.items()}
    measured = (
        f"without: p99 {p99[False]:.0f} ms ({each[False]}) fed at {fed[False]:.0f}/s; with {args.followed} followed: "
        f"p99 {p99[True]:.0f} ms ({each[True]}) fed at {fed[True]:.0f}/s: **{change:+.1%}**; "
        f"with-run follower: {_follower(runs[True])}"
    )
    setup = _setup(args, f"latency --rate {rate:.0f} --intake direct", runs)
    result = ("pass" if ok else "**FAIL**") if conclusive else "inconclusive: a feeder fell short of the rate"
    return [_row("follow load: latency", args.db, setup, measured, "p99 ≤ 110% of without", ok, result)]


def _follower(runs: Sequence[dict]) -> str:
    """What the with-runs' rows said the follower did during their measurement."""
    said = [r["measured"].rsplit("follower during it: ", 1)[-1] for r in runs if "follower during it" in r["measured"]]
    return "; ".join(said) or "(not reported)"


def _setup(args: argparse.Namespace, what: str, runs: dict[bool, list[dict]]) -> str:
    codes = sorted({r["code"] for v in runs.values() for r in v})
    return (
        f"`delivery.py {what}` {args.pairs} pair(s), alternating, without / with `--followed {args.followed} "
        f"--follow-interval {args.follow_interval:g}`; {args.tenants or 50} tenants; code {', '.join(codes)}"
    )


def _row(scenario: str, db: str, setup: str, measured: str, target: str, ok: bool, result: str | None = None) -> str:
    cells = [time.strftime("%Y-%m-%d"), scenario, db, setup, measured, target, result or ("pass" if ok else "**FAIL**")]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.json or Path(tempfile.mkstemp(prefix="follow-load-", suffix=".jsonl")[1])
    rows: list[str] = []
    rate = args.rate
    if args.only != "latency":
        fifty, without_rate = compare_fifty(args, out)
        rows += fifty
        rate = rate or without_rate / 2
    if args.only != "fifty-tenants":
        if rate is None:
            raise SystemExit("--only latency needs --rate (half of today's fifty-tenants steady rate)")
        rows += compare_latency(args, out, rate)
    print(HEADER)
    print("\n".join(rows))
    print(f"(every run's JSON lines: {out})", file=sys.stderr)
    return 0 if all(row.endswith("| pass |") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
