#!/usr/bin/env python3
"""Run mosaic inside Spark: profile every partition of a table where the data lives,
then merge the profiles and check them against the rule packs (DESIGN §9).

    python3 examples/spark/profile_lake.py LAKE OUT_DIR [--mosaic PATH] [--id ID]
        [--partitions N] [--master local[2]] [--rules PACK ...]

LAKE is a (hive-partitioned) Parquet table. Each Spark task receives its rows as
Arrow record batches (mapInArrow), writes them to a temporary Arrow IPC file, runs
`mosaic profile` on it and returns the profile as one string. The driver collects
the profiles into OUT_DIR/parts/, runs `mosaic merge` and `mosaic check`, writes
OUT_DIR/merged.json and OUT_DIR/report.json, and exits with check's exit code
(0 pass or warn, 1 hold, 2 usage, 3 incomplete). No data row leaves the executors;
only profiles (counts, sketches, cell sets) reach the driver.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import pyarrow as pa
from pyspark.sql import SparkSession


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lake", help="Parquet table (hive partitions are read as columns)")
    p.add_argument("out", help="directory for the profiles, the merged profile and the report")
    p.add_argument("--mosaic", default="mosaic", help="mosaic binary, reachable from every executor")
    p.add_argument("--id", default=None, help="dataset id in the report (default: the table's directory name)")
    p.add_argument("--partitions", type=int, default=0, help="repartition the rows into N tasks first")
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    p.add_argument("--rules", action="append", default=[], help="extra rule pack file or directory")
    return p.parse_args()


def main():
    args = parse_args()
    table_id = args.id or os.path.basename(os.path.normpath(args.lake))
    rules = [x for path in args.rules for x in ("--rules", os.path.abspath(path))]
    mosaic = args.mosaic

    spark = (
        SparkSession.builder.master(args.master)
        .appName("mosaic-profile")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(args.lake)
    if args.partitions:
        df = df.repartition(args.partitions)

    def profile(batches):
        with tempfile.TemporaryDirectory(prefix="mosaic-part-") as tmp:
            data = os.path.join(tmp, "part.arrow")
            writer, rows = None, 0
            for batch in batches:
                if writer is None:
                    writer = pa.ipc.new_file(data, batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
            if writer is None:
                return
            writer.close()
            if rows == 0:
                return
            out = os.path.join(tmp, "profile.json")
            cmd = [mosaic, "profile", data, "--id", table_id, "-o", out, *rules]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"mosaic profile exited {run.returncode}: {run.stderr.strip()}")
            with open(out, encoding="utf-8") as f:
                yield pa.RecordBatch.from_pydict({"profile": [f.read()]})

    profiles = [row["profile"] for row in df.mapInArrow(profile, "profile string").collect()]
    spark.stop()
    if not profiles:
        print(f"error: {args.lake}: no rows to profile", file=sys.stderr)
        return 3

    parts_dir = os.path.join(args.out, "parts")
    os.makedirs(parts_dir, exist_ok=True)
    parts = []
    for i, text in enumerate(profiles):
        path = os.path.join(parts_dir, f"part-{i:05d}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        parts.append(path)
    merged = os.path.join(args.out, "merged.json")
    merge = subprocess.run([mosaic, "merge", *parts, "-o", merged])
    if merge.returncode != 0:
        return merge.returncode
    report = os.path.join(args.out, "report.json")
    check = subprocess.run([mosaic, "check", merged, "--format", "json", "-o", report, *rules])
    print(f"{len(parts)} partition profile(s) merged into {merged}; report in {report} (exit {check.returncode})")
    return check.returncode


if __name__ == "__main__":
    sys.exit(main())
