#!/usr/bin/env python3
"""The same points scanned in every format mosaic reads (issue 14, benches/RESULTS.md).
Run by hand, not in CI:

    cargo run --release --example gen-datasets -- --bench-formats /data/fmt 1000000
    cargo build --release
    python3 benches/compare/formats.py /data/fmt [--repeat 3] [--mosaic target/release/mosaic]

Each file is scanned in turn, --repeat rounds, with `--no-fix-search` (the reading
and profiling cost) and with the default fix search; the table gives min wall time,
peak RSS and the ratio to the same scan of the CSV (or of Parquet, for GeoParquet).
"""

import argparse
import os
import re
import subprocess
import time

FILES = [
    ("CSV", "points.csv"),
    ("Parquet", "points.parquet"),
    ("GeoParquet", "points-geo.parquet"),
    ("GeoJSON", "points.geojson"),
    ("Shapefile", "shp/points.shp"),
    ("xlsx", "points.xlsx"),
]


def run(cmd):
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    rss = int(re.search(r"RSS (\d+)", out.stderr).group(1)) / 1024
    if out.returncode not in (0, 1, 3):
        raise SystemExit(f"{cmd}: exit {out.returncode}\n{out.stderr}")
    return wall, rss, out.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mosaic", default="target/release/mosaic")
    args = ap.parse_args()
    results = {}
    for _ in range(args.repeat):
        for label, name in FILES:
            path = os.path.join(args.dir, name)
            for mode, extra in (("read+profile", ["--no-fix-search"]), ("default scan", [])):
                wall, rss, code = run([args.mosaic, "scan", path, "--format", "json"] + extra)
                best = results.get((label, mode))
                if best is None or wall < best[0]:
                    results[(label, mode)] = (wall, rss, code)
    print("| format | size | mode | min wall | peak RSS | exit | ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, name in FILES:
        size = os.path.getsize(os.path.join(args.dir, name)) / 1e6
        for mode in ("read+profile", "default scan"):
            wall, rss, code = results[(label, mode)]
            base = "Parquet" if label == "GeoParquet" else "CSV"
            ratio = wall / results[(base, mode)][0]
            print(f"| {label} | {size:.0f} MB | {mode} | {wall:.2f} s | {rss:.0f} MiB | {code} | {ratio:.2f}× {base} |")


if __name__ == "__main__":
    main()
