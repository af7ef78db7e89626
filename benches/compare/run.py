#!/usr/bin/env python3
"""Whole-process comparison of mosaic with DuckDB and polars-python on the same
files, side by side in one run (benches/RESULTS.md). Run by hand, not in CI:

    python3 benches/compare/gen.py /data/cmp --csv --join          # once (~2.2 GB)
    cargo build --release
    python3 benches/compare/run.py /data/cmp [--repeat 5] [--mosaic target/release/mosaic]

Each command runs --repeat times in turn (mosaic, DuckDB, polars, next task); the
table gives min and median wall time, peak RSS (the readers memory-map files, so
RSS counts mapped input pages and, as wait4 reports it, the largest of the process
and its children), mosaic's heap peak (MOSAIC_MEMORY_STATS, the largest of the
process's and its sandbox children's) and CPU
time / wall time. Ratios are mosaic / the faster peer.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PACK_HEAD = """[pack]
id = "bench"
version = "1"
effective = "2020-01-01"
name = "Comparison workload"
authority = "国家保密局"
basis = ["国家秘密定密管理规定 第35条"]
illustrative = true
grid_m = 50
warn_at = 0.8

[tags.site]
kind = "key"
columns = ["site"]
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
crs = "wgs84"
[tags.value]
kind = "measure"
unit = "1"
columns = ["value"]
[tags.category]
kind = "category"
columns = ["category"]
"""

ITEM = """
[[item]]
id = "bench.{id}"
name = {{ zh = "对比任务 {id}", en = "Comparison task {id}" }}
catalog_match = false
level = "秘密"
period = {{ years = 10 }}
knowledge_scope = "benchmark"
art13 = "经济"
harm = "性能对比工作负载。"
basis = ["国家秘密定密管理规定 第35条"]
when = [{when}]
remediation = "性能对比工作负载。"
"""

# What mosaic computes for each task (exact distinct sites; resolution from the
# decimals carried; exact cells; the largest contiguous cluster only in "scan").
TASKS = {
    "profile": ["rows >= 1", "distinct(site) >= 1", "value.min < 1e9", "value.max > -1e9", "position.resolution_m < 1e9", "position.extent_km >= 0"],
    "cells": ["position.area_km2 > 0"],
    "scan": ["rows >= 1", "distinct(site) >= 1", "value.min < 1e9", "value.max > -1e9", "position.resolution_m < 1e9",
             "position.extent_km >= 0", "position.area_km2 > 0", "position.contiguous_km2 > 0"],
    "join": ["has(site, position, category)", "rows >= 1", "distinct(site) >= 1"],
    # A hold as users meet it (the sites' precise positions): the default scan
    # searches and verifies its fix (round the positions), `--no-fix-search` does not.
    "hold": ["has(site, position)", "position.resolution_m < 50", "distinct(site) >= 20"],
    # Holds of other shapes, whose fix search reads other metrics of the rounded
    # positions: their extent, their occupied cells, their distinct places; and a
    # lattice spacing (which these scattered points do not meet: no hold).
    "spread": ["has(site, position)", "position.resolution_m < 100", "position.extent_km >= 10", "distinct(site) >= 20"],
    "coverage": ["position.resolution_m < 100", "position.area_km2 >= 1"],
    "places": ["position.resolution_m < 100", "distinct(position) >= 1000"],
    "lattice": ["position.spacing_m < 100"],
}


def pack(task: str, path: str):
    when = ", ".join(json.dumps(c) for c in TASKS[task])
    with open(path, "w", encoding="utf-8") as f:
        f.write(PACK_HEAD + ITEM.format(id=task, when=when))


def measure(cmd, env, repeat, ok=(0,)):
    walls, rss, cpu, heap = [], [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
        out = p.stdout.read().decode()
        err = p.stderr.read().decode()
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            sys.exit(f"{' '.join(cmd)} exited {code}:\n{err[-2000:]}")
        walls.append(wall)
        rss.append(usage.ru_maxrss / 1024.0)
        cpu.append((usage.ru_utime + usage.ru_stime) / wall)
        # The scan and each sandbox child that evaluates a file print their own: the
        # largest is the figure (a join of two large files runs in three processes).
        peaks = [float(v) for v in re.findall(r"heap peak: ([0-9.]+) MiB", err)]
        if peaks:
            heap.append(max(peaks))
    return {
        "min": min(walls),
        "median": statistics.median(walls),
        "rss": max(rss),
        "cpu": statistics.median(cpu),
        "heap": max(heap) if heap else None,
        "out": out.strip()[:200],
    }


def main():
    a = argparse.ArgumentParser()
    a.add_argument("dir")
    a.add_argument("--repeat", type=int, default=5)
    a.add_argument("--mosaic", default=os.path.join(HERE, "..", "..", "target", "release", "mosaic"))
    a.add_argument("--rows", default="rows20m")
    a.add_argument("--only", default="", help="comma-separated tasks to run")
    args = a.parse_args()
    env = dict(os.environ, MOSAIC_MEMORY_STATS="1", SOURCE_DATE_EPOCH="1795392000")
    tmp = tempfile.mkdtemp(prefix="mosaic-cmp-")
    data = {
        "parquet": os.path.join(args.dir, f"{args.rows}.parquet"),
        "csv": os.path.join(args.dir, f"{args.rows}.csv"),
    }
    join = [os.path.join(args.dir, "join", "positions.parquet"), os.path.join(args.dir, "join", "register.parquet")]
    peer = [sys.executable, os.path.join(HERE, "peers.py")]
    rows = []
    only = set(filter(None, args.only.split(",")))

    def mosaic(task, *paths, fixes=False):
        p = os.path.join(tmp, f"{task}.toml")
        pack(task, p)
        search = [] if fixes else ["--no-fix-search"]
        return [args.mosaic, "scan", *paths, "--rules", p, "--no-builtin", *search, "--format", "json"]

    published = None
    if os.path.exists(data["parquet"]):
        import pyarrow.parquet as pq

        published = os.path.join(tmp, "published.parquet")
        pq.write_table(pq.ParquetFile(data["parquet"]).read_row_group(0).slice(0, 1000), published)
    plan = []
    for fmt in ("parquet", "csv"):
        f = data[fmt]
        if not os.path.exists(f):
            continue
        plan.append((f"profile ({fmt})", mosaic("profile", f), peer + ["duckdb", "profile", f], peer + ["polars", "profile", f]))
        plan.append((f"exact 50 m cells ({fmt})", mosaic("cells", f), peer + ["duckdb", "cells", f], peer + ["polars", "cells", f]))
        plan.append((f"mosaic scan ({fmt})", mosaic("scan", f), None, None))
        plan.append((f"mosaic scan, default with its fix search ({fmt})", mosaic("scan", f, fixes=True), None, None))
        plan.append((f"a hold, --no-fix-search ({fmt})", mosaic("hold", f), None, None))
        plan.append((f"a hold, default scan with its verified fix ({fmt})", mosaic("hold", f, fixes=True), None, None))
        # A pre-release check: the candidate with a release already published (its
        # first 1 000 rows, sharing its sites), which the candidate is joined with.
        if published:
            prerelease = mosaic("hold", f, fixes=True) + ["--published", published]
            plan.append((f"a hold with a published release, default scan ({fmt})", prerelease, None, None))
        for shape in ("spread", "coverage", "places", "lattice"):
            plan.append((f"shape {shape}, default scan ({fmt})", mosaic(shape, f, fixes=True), None, None))
    if os.path.exists(join[0]):
        jd = os.path.join(tmp, "join")
        os.makedirs(jd, exist_ok=True)
        for j in join:
            dst = os.path.join(jd, os.path.basename(j))
            if not os.path.exists(dst):
                os.symlink(os.path.abspath(j), dst)
        plan.append(("join 5M ⋈ 5M on site", mosaic("join", jd), peer + ["duckdb", "join", *join], peer + ["polars", "join", *join]))
    plan.append(("mosaic --version", [args.mosaic, "--version"], None, None))

    results = {}
    for name, m, d, p in plan:
        if only and not any(o in name for o in only):
            continue
        results[name] = {"mosaic": measure(m, env, args.repeat, ok=(0, 1))}
        if d:
            results[name]["duckdb"] = measure(d, env, args.repeat)
            results[name]["polars"] = measure(p, env, args.repeat)
        print(name, json.dumps(results[name]), flush=True)
    with open(os.path.join(tmp, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nresults: {tmp}/results.json\n")
    print("| task | mosaic min / median | heap | RSS | CPU/wall | DuckDB min / median | RSS | polars min / median | RSS | mosaic ÷ faster peer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        m = r["mosaic"]
        heap = f"{m['heap']:.0f} MiB" if m["heap"] is not None else "–"
        line = f"| {name} | {m['min']:.3f} / {m['median']:.3f} s | {heap} | {m['rss']:.0f} MiB | {m['cpu']:.2f} |"
        if "duckdb" in r:
            d, p = r["duckdb"], r["polars"]
            best = min(d["min"], p["min"])
            line += f" {d['min']:.3f} / {d['median']:.3f} s | {d['rss']:.0f} MiB | {p['min']:.3f} / {p['median']:.3f} s | {p['rss']:.0f} MiB | {m['min'] / best:.2f}× |"
        else:
            line += " – | – | – | – | – |"
        print(line)


if __name__ == "__main__":
    main()
