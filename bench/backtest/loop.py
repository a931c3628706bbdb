"""``python -m bench.backtest.loop``: backtests of one practice back to back until a deadline,
in a process of its own (as a rules-api would run them beside the pipeline); prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime

from bench.backtest.scan import run_once
from crmflow.db.engine import make_engine
from crmflow.settings import Settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.backtest.loop")
    p.add_argument("--practice", required=True)
    p.add_argument("--since", required=True)
    p.add_argument("--until", required=True)
    p.add_argument("--seconds", type=float, required=True)
    args = p.parse_args(argv)
    settings = Settings()
    engine = make_engine(settings, pool_size=1)
    since, until = datetime.fromisoformat(args.since), datetime.fromisoformat(args.until)
    deadline = time.monotonic() + args.seconds
    runs = []
    while time.monotonic() < deadline:
        runs.append(run_once(engine, settings, args.practice, since, until))
    engine.dispose()
    scanned = sum(r["events_scanned"] for r in runs)
    wall = sum(r["wall_seconds"] for r in runs)
    print(json.dumps({"backtests": len(runs), "events_scanned": scanned, "busy_seconds": round(wall, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
