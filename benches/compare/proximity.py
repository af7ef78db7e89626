#!/usr/bin/env python3
"""Whole-process measure of proximity linking (issue 16): a register of 1M places at
0.01° and the same places surveyed again at 6 decimals (each moved up to ≈ 170 m),
spread over 25° x 25°, linked within 2 km by a pack of their own.

    python3 benches/compare/proximity.py DIR [MOSAIC]

writes DIR/data/{register,points}.parquet and DIR/water.toml, runs
`mosaic scan DIR/data` (with and without the fix search) under /usr/bin/time -v and
prints wall time, peak RSS and the finding. Needs numpy and polars (pip).
"""
import json
import os
import subprocess
import sys

import numpy as np
import polars as pl

PACK = """
[pack]
id = "water"
version = "1"
name = "Reservoirs"
authority = "Water authority"

[tags.dam]
kind = "key"
columns = ["dam_no"]

[tags.spot]
kind = "point"
lat = ["y_deg"]
lon = ["x_deg"]
link_within_m = 2000

[tags.capacity]
kind = "measure"
columns = ["capacity_m3"]

[[item]]
id = "water.large-dams"
name = "Large dams located to the metre"
level = "秘密"
harm = "h"
remediation = "r"
where = ["capacity >= 1e8"]
when = ["has(dam, spot)", "spot.resolution_m < 10", "distinct(dam) >= 5"]
"""


def main():
    out = sys.argv[1]
    mosaic = sys.argv[2] if len(sys.argv) > 2 else "target/release/mosaic"
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    rng = np.random.default_rng(20261201)
    n = 1_000_000
    lat = 20 + 25 * rng.random(n)
    lon = 100 + 25 * rng.random(n)
    pl.DataFrame({"dam_no": [f"D{i:07d}" for i in range(n)], "capacity_m3": np.full(n, 2e8),
                  "y_deg": np.round(lat, 2), "x_deg": np.round(lon, 2)}).write_parquet(f"{out}/data/register.parquet")
    pl.DataFrame({"y_deg": np.round(lat + 0.003 * (rng.random(n) - 0.5), 6),
                  "x_deg": np.round(lon + 0.003 * (rng.random(n) - 0.5), 6)}).write_parquet(f"{out}/data/points.parquet")
    with open(f"{out}/water.toml", "w", encoding="utf-8") as f:
        f.write(PACK)
    for extra in (["--no-fix-search"], []):
        cmd = ["/usr/bin/time", "-v", mosaic, "scan", f"{out}/data", "--rules", f"{out}/water.toml", "--no-builtin",
               "--format", "json", "-o", f"{out}/findings.json", *extra]
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = next(l for l in p.stderr.splitlines() if "Elapsed" in l).split()[-1]
        rss = int(next(l for l in p.stderr.splitlines() if "Maximum resident" in l).split()[-1]) // 1024
        findings = json.load(open(f"{out}/findings.json"))["findings"]
        linked = [e["value"] for f in findings for e in f["evidence"] if e["condition"].startswith("distinct(dam)")]
        print(f"scan {' '.join(extra) or '(default)'}: exit {p.returncode}, {wall} wall, {rss} MiB peak RSS, "
              f"distinct dams pinned {linked}")


if __name__ == "__main__":
    main()
