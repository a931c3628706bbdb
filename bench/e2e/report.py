"""The end of a run: tables on stdout, the JSON record and the PNG plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.e2e.measure import STAGES

# evaluator2: a second evaluator started by hand (bench/README.md, issue 17), 0 when none runs
COMPONENTS = (
    "postgresql", "kafka", "connect", "evaluator", "evaluator2", "runner", "poller",
    "load generator", "harness",
)  # fmt: skip
STAGE_NAMES = [name for name, _ in STAGES]
TARGETS = {"p50_at_50": 0.050, "p99_at_50": 0.250, "sustained": 2000.0}
# issue 17: with no traffic, % of one core
IDLE_TARGETS = {"python_services_core_percent": 3.0, "kafka_connect_core_percent": 8.0}
# issue 17: the quiet practice's p99 while a busy one writes beside it (fairness phase)
FAIRNESS_P99 = 0.250
# steps of the rate tables and the plot (the fairness step has a table of its own)
_APART = ("warmup", "capacity", "fairness")


def _ms(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v * 1000:.0f}" if v < 10 else f"{v:.1f}s"


def _load_cells(load: dict[str, Any]) -> list[str]:
    """A step's or a practice's offered and written rates, done/written and latency percentiles."""
    lat = load["latency"]
    return [
        f"{load['offered_rate']:g}",
        "-" if load.get("achieved_rate") is None else f"{load['achieved_rate']:g}",
        f"{lat['completed']}/{load['written']}",
        *(_ms(lat[q]) for q in ("p50", "p95", "p99", "max")),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def targets(results: dict[str, Any]) -> dict[str, Any]:
    at50 = next(
        (
            s
            for s in results["steps"]
            if s["design"] == "cdc" and s["offered_rate"] == 50 and s["phase"] != "fairness"
        ),
        None,
    )
    sustained = (results.get("throughput") or {}).get("max_sustained_rate")
    out: dict[str, Any] = {}
    if at50:
        lat = at50["latency"]
        out["p50 <= 50 ms at 50/s"] = {
            "value_ms": round(lat["p50"] * 1000, 1),
            "met": lat["p50"] <= TARGETS["p50_at_50"],
        }
        out["p99 <= 250 ms at 50/s"] = {
            "value_ms": round(lat["p99"] * 1000, 1),
            "met": lat["p99"] <= TARGETS["p99_at_50"],
        }
    idle = results.get("idle")
    if idle:
        for key, limit in IDLE_TARGETS.items():
            out[f"idle {key} <= {limit:g}"] = {"value": idle[key], "met": idle[key] <= limit}
    fair = results.get("fairness")
    if fair and "quiet" in fair["practices"]:
        quiet, busy = fair["practices"]["quiet"], fair["practices"].get("busy", {})
        name = (
            f"fairness: quiet practice's p99 <= {FAIRNESS_P99 * 1000:.0f} ms at {quiet['offered_rate']:g}/s"
            f" beside one at {busy.get('offered_rate', 0):g}/s"
        )
        p99 = quiet["latency"]["p99"]
        out[name] = {"value_ms": round(p99 * 1000, 1), "met": p99 <= FAIRNESS_P99}
    if sustained is not None:
        out[">= 2,000 events/s with p99 < 1 s"] = {
            "value": sustained,
            "met": sustained >= TARGETS["sustained"],
        }
    return out


def print_tables(results: dict[str, Any]) -> None:
    if idle := results.get("idle"):
        print(f"\nIdle, no traffic for {idle['seconds']:g} s (% of one core, CPU from /proc)")
        names = list(idle["core_percent"])
        print(_table(names, [[f"{idle['core_percent'][n]:.2f}" for n in names]]))
        services = ", ".join(idle["python_services_measured"])
        print(
            f"Python services ({services}): {idle['python_services_core_percent']:.2f}%; "
            f"Kafka + Connect: {idle['kafka_connect_core_percent']:.2f}%"
        )
    steps = [s for s in results["steps"] if s["phase"] not in _APART]
    rows = []
    for s in steps:
        verdict = ("pass" if s["passed"] else "FAIL") if s["phase"] == "throughput" else ""
        rows.append(
            [
                s["name"],
                s["design"],
                *_load_cells(s),
                f"{s['resources']['cores_busy_other']:.2f}",
                verdict,
            ]
        )
    if steps:
        print("\nLatency, outbox commit -> note committed (ms, from the rows' database timestamps)")
        print(
            _table(
                [
                    "step",
                    "design",
                    "offered/s",
                    "written/s",
                    "done/written",
                    "p50",
                    "p95",
                    "p99",
                    "max",
                    "other cores",
                    "",
                ],
                rows,
            )
        )
    rows = []
    for s in steps:
        stages = s.get("stages") or {}
        rows.append(
            [
                s["name"],
                *(
                    f"{_ms(stages[n]['p50'])} / {_ms(stages[n]['p99'])}" if n in stages else "-"
                    for n in STAGE_NAMES
                ),
            ]
        )
    if steps:
        print("\nWhere the time goes, p50 / p99 ms per stage (bench/README.md: stages)")
        print(_table(["step", *STAGE_NAMES], rows))
    rows = []
    for s in [*steps, *(s for s in results["steps"] if s["phase"] == "fairness")]:
        cpu = s["resources"]["cpu_seconds"]
        done = max(1, s["latency"]["completed"])
        rows.append(
            [
                s["name"],
                *(f"{cpu.get(c, 0.0):.1f}" for c in COMPONENTS),
                f"{1000 * sum(cpu.get(c, 0.0) for c in COMPONENTS[:7]) / done:.2f}",
            ]
        )
    print(
        "\nCPU seconds per component over each step (offer + drain); last column: pipeline CPU ms per event"
    )
    print("(pipeline: postgresql, kafka, connect, evaluators, runner, poller; load generator, harness apart)")
    print(_table(["step", *COMPONENTS, "ms/event"], rows))
    for s in results["steps"]:
        if s["phase"] == "capacity" and "drain_stages" in s:
            st = s["drain_stages"]
            cpu = s["resources"]["cpu_seconds"]
            print(
                f"\nCapacity without the generator: {s['written']} events written with the connector paused, "
                f"drained in {s['drain_seconds']:.1f} s = {s['drain_rate']} events/s"
            )
            done = {name: st[name]["done_after"] for name in ("publish", "evaluate", "execute")}
            used = ", ".join(f"{c} {cpu.get(c, 0.0):.1f}" for c in COMPONENTS if cpu.get(c))
            print(
                f"  read by Debezium after {done['publish']:.1f} s, evaluated after {done['evaluate']:.1f} s,"
                f" executed after {done['execute']:.1f} s; CPU s: {used}"
            )
    if fair := results.get("fairness"):
        print_fairness(fair)
    peak: dict[str, int] = {}
    for s in results["steps"]:
        for name, kib in s["resources"]["peak_memory_kib"].items():
            peak[name] = max(peak.get(name, 0), kib)
    print("\nPeak memory (MiB, sampled each second; PostgreSQL: sum of Pss): "
          + ", ".join(f"{k} {v / 1024:.0f}" for k, v in peak.items()))  # fmt: skip
    if "throughput" in results:
        t = results["throughput"]
        print(f"\nMax sustained: {t['max_sustained_rate']:g} events/s ({t['criterion']}); "
              f"lowest failed: {t['lowest_failed_rate']}")  # fmt: skip
    for name, t in targets(results).items():
        print(f"target {name}: {'met' if t['met'] else 'NOT met'} ({t.get('value_ms', t.get('value'))})")
    if results.get("quick"):
        print("(--quick: short steps, a smoke run; the targets are judged on full 60 s steps)")


def print_fairness(fair: dict[str, Any]) -> None:
    print(
        f"\nFairness: {len(fair['practices'])} practices at once, open loop, {fair['design']},"
        f" {fair['duration']:g} s (step '{fair['step']}'); ms, per practice"
    )
    rows = []
    for label, p in fair["practices"].items():
        rows.append(
            [
                label,
                *_load_cells(p),
                *(
                    f"{_ms(p['stages'][n]['p50'])} / {_ms(p['stages'][n]['p99'])}"
                    if n in p["stages"]
                    else "-"
                    for n in STAGE_NAMES
                ),
            ]
        )
    headers = ["practice", "offered/s", "written/s", "done/written", "p50", "p95", "p99", "max"]
    print(_table([*headers, *(f"{n} p50/p99" for n in STAGE_NAMES)], rows))
    res = fair["resources"]
    print(
        f"other cores {res['cores_busy_other']:.2f}"
        + (f"; stopped: {fair['aborted']}" if fair.get("aborted") else "")
        + " (CPU of the step: the CPU table above)"
    )


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"e2e-{results['started_at']}"
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=2, default=_json_default, allow_nan=True) + "\n")
    png_path = base.with_suffix(".png")
    plot(results, png_path)
    return json_path, png_path


def _json_default(value: Any) -> Any:
    return str(value)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s in results["steps"] if s["phase"] not in _APART]
    designs = sorted({s["design"] for s in steps}, key=lambda d: (d != "cdc", d))
    fig, ax = plt.subplots(figsize=(9, 5.5))
    styles = {"p50": "-", "p95": "--", "p99": "-.", "max": ":"}
    colors = dict(
        zip(designs, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"], strict=False)
    )
    for design in designs:
        pts = sorted((s for s in steps if s["design"] == design), key=lambda s: s["offered_rate"])
        xs = [s["offered_rate"] for s in pts]
        for key, style in styles.items():
            ys = [_capped(s["latency"][key]) for s in pts]
            ax.plot(xs, ys, style, marker="o", ms=3, color=colors[design], label=f"{design} {key}")
    for fair in (s for s in results["steps"] if s["phase"] == "fairness"):
        for n, part in enumerate(fair.get("loads", [])):
            for key, marker in (("p50", "v"), ("p99", "^")):
                ax.plot(
                    [part["offered_rate"]],
                    [_capped(part["latency"][key])],
                    marker,
                    ms=6,
                    color=["black", "tab:brown", "tab:pink"][n % 3],
                    label=f"{fair['name']}: {part['label']} {key}",
                )
    ax.axhline(1000, color="grey", lw=0.8)
    ax.text(ax.get_xlim()[0], 1000, " p99 limit 1 s", va="bottom", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (events/s)")
    ax.set_ylabel("outbox commit -> note committed (ms)")
    sustained = (results.get("throughput") or {}).get("max_sustained_rate")
    title = f"crmflow end to end, {results['started_at']}"
    if sustained:
        title += f"; max sustained {sustained:g}/s"
    if results.get("quick"):
        title += " (--quick)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, len(designs)), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _capped(seconds: float) -> float:
    """ms, with unfinished events (inf) drawn at 10 minutes so the line stays visible."""
    return 600_000.0 if math.isinf(seconds) else seconds * 1000
