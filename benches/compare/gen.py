#!/usr/bin/env python3
"""Generate the comparison data (benches/RESULTS.md): N rows with an id, a site key
(~100 000 distinct), lat/lon at 6 decimals in a 0.5° square, a timestamp, a value and
a 50-value category, as Parquet (snappy) and CSV; and two 5M-row tables sharing the
site key for the join. Deterministic (fixed seeds).

    python3 benches/compare/gen.py DIR [--rows 20000000] [--csv] [--join]
"""

import argparse
import os

import numpy as np
import polars as pl


def table(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    df = pl.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "site_n": rng.integers(0, 100_000, rows),
            "lat": np.round(30.0 + rng.random(rows) * 0.5, 6),
            "lon": np.round(114.0 + rng.random(rows) * 0.5, 6),
            "ts": (start + rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")).astype("datetime64[ms]"),
            "value": np.round(rng.normal(100.0, 15.0, rows), 3),
            "category_n": rng.integers(0, 50, rows),
        }
    )
    return df.select(
        "id",
        (pl.lit("S") + pl.col("site_n").cast(pl.String).str.zfill(6)).alias("site"),
        "lat",
        "lon",
        "ts",
        "value",
        (pl.lit("C") + pl.col("category_n").cast(pl.String).str.zfill(2)).alias("category"),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--csv", action="store_true", help="also write CSV")
    p.add_argument("--join", action="store_true", help="also write the two 5M-row join tables")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    name = f"rows{a.rows // 1_000_000}m"
    df = table(a.rows, 20261123)
    df.write_parquet(os.path.join(a.dir, f"{name}.parquet"), compression="snappy", row_group_size=1_000_000)
    if a.csv:
        df.write_csv(os.path.join(a.dir, f"{name}.csv"), datetime_format="%Y-%m-%d %H:%M:%S")
    if a.join:
        os.makedirs(os.path.join(a.dir, "join"), exist_ok=True)
        table(5_000_000, 1).select("site", "lat", "lon").write_parquet(
            os.path.join(a.dir, "join", "positions.parquet"), compression="snappy"
        )
        table(5_000_000, 2).select("site", "category", "value").write_parquet(
            os.path.join(a.dir, "join", "register.parquet"), compression="snappy"
        )


if __name__ == "__main__":
    main()
