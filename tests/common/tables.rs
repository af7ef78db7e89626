//! Delta Lake and Iceberg tables written by their own writers (the `deltalake` and
//! `pyiceberg` Python packages), for the table and object-store tests.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn have_deltalake() -> bool {
    Command::new("python3").args(["-c", "import deltalake, pandas"]).output().is_ok_and(|o| o.status.success())
}

pub fn have_pyiceberg() -> bool {
    Command::new("python3")
        .args(["-c", "import pyiceberg, pyarrow, sqlalchemy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// 30 ≥500 kV substations at 6 decimals in two partitions, written in two commits,
/// then one deleted (version 2).
pub fn write_delta(dir: &Path) {
    let script = r#"
import sys, time, pandas as pd
from deltalake import write_deltalake, DeltaTable
path = sys.argv[1]
rows = [{"site_id": f"S{i:03d}", "voltage_kv": 500, "lat": round(30 + i * 0.01 + 0.000123, 6),
         "lon": round(110 + i * 0.01 + 0.000456, 6), "province": "hb" if i % 2 else "sc"} for i in range(30)]
df = pd.DataFrame(rows)
write_deltalake(path, df.iloc[:10], partition_by=["province"])
time.sleep(0.02)  # commits at distinct milliseconds, for --as-of TIME
write_deltalake(path, df.iloc[10:], mode="append", partition_by=["province"])
time.sleep(0.02)
DeltaTable(path).delete("site_id = 'S000'")
print(len(DeltaTable(path).to_pandas()))
# Leave without interpreter teardown: the writers' native thread pools can abort
# ("terminate called without an active exception") while Python shuts down.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", super::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "29", "the writer's own count");
}

/// 30 ≥500 kV substations appended in two snapshots, then one deleted; returns the table directory.
pub fn write_iceberg(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root).unwrap();
    let script = r#"
import sys, time, pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
root = sys.argv[1]
cat = SqlCatalog("local", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")
cat.create_namespace("energy")
t = pa.table({"site_id": [f"S{i:03d}" for i in range(30)], "voltage_kv": [500] * 30,
              "lat": [round(30 + i * 0.01 + 0.000123, 6) for i in range(30)],
              "lon": [round(110 + i * 0.01 + 0.000456, 6) for i in range(30)]})
tbl = cat.create_table("energy.substations", schema=t.schema)
tbl.append(t.slice(0, 10))
time.sleep(0.02)  # snapshots at distinct milliseconds, for --as-of TIME
tbl.append(t.slice(10))
time.sleep(0.02)
tbl.delete("site_id == 'S000'")
print(len(tbl.scan().to_arrow()))
# Leave without interpreter teardown: the writers' native thread pools can abort
# ("terminate called without an active exception") while Python shuts down.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(root).output().unwrap();
    assert!(out.status.success(), "{}", super::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "29", "the writer's own count");
    root.join("warehouse/energy/substations")
}
