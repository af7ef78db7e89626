#!/usr/bin/env python3
"""A lake of many small files (benches/RESULTS.md, issue 15): TABLES hive tables of
DAYS daily partitions of ROWS rows each, scanned by mosaic as TABLES datasets and read
whole by DuckDB (rows, min/max of the coordinates, distinct sites per table), side by
side in one run. Run by hand, not in CI:

    python3 benches/compare/lake.py DIR [--tables 10 --days 1000 --rows 1000] [--mosaic target/release/mosaic]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import polars as pl

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = """[pack]
id = "lake"
version = "1"
effective = "2020-01-01"
name = "Lake workload"
authority = "国家保密局"
basis = ["国家秘密定密管理规定 第35条"]
illustrative = true
[tags.site]
kind = "key"
columns = ["site"]
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
[[item]]
id = "lake.profile"
name = { zh = "湖仓对比", en = "Lake comparison" }
catalog_match = false
level = "秘密"
period = { years = 10 }
knowledge_scope = "benchmark"
art13 = "经济"
harm = "性能对比工作负载。"
basis = ["国家秘密定密管理规定 第35条"]
when = ["rows >= 1", "distinct(site) >= 1", "position.extent_km >= 0"]
remediation = "性能对比工作负载。"
"""


def generate(root, tables, days, rows):
    rng = np.random.default_rng(7)
    for t in range(tables):
        for d in range(days):
            p = os.path.join(root, f"table{t:02d}", f"day={d:04d}")
            if os.path.exists(os.path.join(p, "part-0.parquet")):
                continue
            os.makedirs(p, exist_ok=True)
            pl.DataFrame({
                "site": [f"S{x:05d}" for x in rng.integers(0, 5000, rows)],
                "lat": np.round(30 + rng.random(rows) * 0.5, 6),
                "lon": np.round(114 + rng.random(rows) * 0.5, 6),
                "value": np.round(rng.normal(100, 15, rows), 3),
            }).write_parquet(os.path.join(p, "part-0.parquet"))


def duckdb_all(root, tables):
    import duckdb
    con = duckdb.connect()
    out = []
    for t in range(tables):
        glob = os.path.join(root, f"table{t:02d}", "*", "*.parquet")
        out.append(con.execute(
            f"SELECT count(*), min(lat), max(lat), min(lon), max(lon), count(DISTINCT site) FROM read_parquet('{glob}', hive_partitioning = true)"
        ).fetchone())
    return out


def timed(f, repeat):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        wall = time.perf_counter() - start
        best = wall if best is None else min(best, wall)
    return best


def main():
    a = argparse.ArgumentParser()
    a.add_argument("dir")
    a.add_argument("--tables", type=int, default=10)
    a.add_argument("--days", type=int, default=1000)
    a.add_argument("--rows", type=int, default=1000)
    a.add_argument("--repeat", type=int, default=3)
    a.add_argument("--mosaic", default=os.path.join(HERE, "..", "..", "target", "release", "mosaic"))
    args = a.parse_args()
    generate(args.dir, args.tables, args.days, args.rows)
    pack = os.path.join(tempfile.mkdtemp(prefix="mosaic-lake-"), "lake.toml")
    with open(pack, "w", encoding="utf-8") as f:
        f.write(PACK)
    cmd = [args.mosaic, "scan", args.dir, "--rules", pack, "--no-builtin", "--no-fix-search", "--format", "json", "-q"]

    def mosaic():
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode not in (0, 1):
            sys.exit(f"mosaic exited {p.returncode}: {p.stderr.decode()[-2000:]}")

    files = args.tables * args.days
    m = timed(mosaic, args.repeat)
    d = timed(lambda: duckdb_all(args.dir, args.tables), args.repeat)
    print(f"| lake of {files} Parquet files ({args.tables} tables × {args.days} partitions × {args.rows} rows) "
          f"| mosaic {m:.2f} s | DuckDB {d:.2f} s | {m / d:.2f}× |")


if __name__ == "__main__":
    main()
