#!/usr/bin/env python3
"""The peers' side of the comparison: one task, one engine, one process.

    python3 benches/compare/peers.py duckdb|polars profile|cells|join FILE [FILE2]

profile: one pass with row count, approximate distinct sites, min/max of lat, lon,
         ts and value, approximate distinct 50 m cells and the decimals carried.
cells:   exact distinct 50 m cells.
join:    rows and distinct sites of FILE ⋈ FILE2 on site.
Cells use mosaic's definition (profile::geo::cell): band = floor(lat · 111320/50),
column = floor(lon · cos(band centre) · 111320/50).
"""

import json
import math
import sys

PER_DEG = 111_320.0 / 50.0


def duckdb_task(task, files):
    import duckdb

    con = duckdb.connect()
    src = f"'{files[0]}'"
    if files[0].endswith(".csv"):
        src = f"read_csv('{files[0]}')"
    band = f"floor(lat * {PER_DEG})"
    col = f"floor(lon * cos(radians(({band} + 0.5) / {PER_DEG})) * {PER_DEG})"
    cases = " ".join(f"WHEN round(lat, {k}) = lat THEN {k}" for k in range(16))
    if task == "profile":
        q = f"""SELECT count(*), approx_count_distinct(site), min(lat), max(lat), min(lon), max(lon),
                min(ts), max(ts), min(value), max(value),
                approx_count_distinct({band} * 1000000000 + {col}),
                max(CASE {cases} ELSE 15 END) FROM {src}"""
    elif task == "cells":
        q = f"SELECT count(*) FROM (SELECT DISTINCT {band} AS r, {col} AS c FROM {src})"
    else:
        q = f"""SELECT count(*), count(DISTINCT l.site) FROM '{files[0]}' l JOIN '{files[1]}' r ON l.site = r.site"""
    return [str(x) for x in con.execute(q).fetchone()]


def polars_task(task, files):
    import polars as pl

    lf = pl.scan_csv(files[0], try_parse_dates=True) if files[0].endswith(".csv") else pl.scan_parquet(files[0])
    band = (pl.col("lat") * PER_DEG).floor()
    col = (pl.col("lon") * ((band + 0.5) / PER_DEG * (math.pi / 180)).cos() * PER_DEG).floor()
    if task == "profile":
        dec = pl.lit(15)
        for k in range(15, -1, -1):
            dec = pl.when(pl.col("lat").round(k) == pl.col("lat")).then(k).otherwise(dec)
        q = lf.select(
            pl.len(),
            pl.col("site").approx_n_unique().alias("sites"),
            pl.col("lat").min().alias("lat_min"),
            pl.col("lat").max().alias("lat_max"),
            pl.col("lon").min().alias("lon_min"),
            pl.col("lon").max().alias("lon_max"),
            pl.col("ts").min().alias("ts_min"),
            pl.col("ts").max().alias("ts_max"),
            pl.col("value").min().alias("v_min"),
            pl.col("value").max().alias("v_max"),
            (band * 1e9 + col).approx_n_unique().alias("cells"),
            dec.max().alias("decimals"),
        )
    elif task == "cells":
        q = lf.select(band.alias("r"), col.alias("c")).unique().select(pl.len())
    else:
        right = pl.scan_parquet(files[1])
        q = lf.join(right, on="site").select(pl.len(), pl.col("site").n_unique())
    return [str(x) for x in q.collect(engine="streaming").row(0)]


def main():
    engine, task, *files = sys.argv[1:]
    out = duckdb_task(task, files) if engine == "duckdb" else polars_task(task, files)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
