#!/usr/bin/env python3
"""Write tests/data/names.csv, the labelled set mosaic's name resolution is measured on
(issue: precision >= 0.99, recall >= 0.95). Run from the repository root after
scripts/gazetteer.py: python3 scripts/names.py

Every current province, city and county of data/gazetteer.csv appears in the forms
releases write it in: as listed, with an organ suffix (人民政府, 政府), in traditional
characters, with spaces, in full-width digits (codes), without its administrative
suffix, preceded by its province or city, with a province column, and by former
names. Each row's label is the code a careful reader would give it, counted here
independently of mosaic's resolver: a form that several divisions share (朝阳区 alone)
is labelled with no code, and so is one its parent column contradicts (unless that
parent has a division of the same name).
"""
import csv
import os
import random
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SUFFIXES = ["特别行政区", "自治县", "自治旗", "自治州", "自治区", "林区", "特区", "地区", "新区",
            "省", "市", "区", "县", "旗", "盟"]
ETHNIC = ["蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼", "哈萨克",
          "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬",
          "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂",
          "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺"]
TRAD = dict(zip("县区阳东龙宁乐兴长门马汉广华庆阴乡丰岭台湾辽宁滨阳鸡鹤双", "縣區陽東龍寧樂興長門馬漢廣華慶陰鄉豐嶺臺灣遼寧濱陽雞鶴雙"))


def core(name):
    for s in SUFFIXES:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


def short(name):
    """An autonomous division as releases shorten it: 恩施土家族苗族自治州 -> 恩施, 恩施州."""
    for suffix, level in [("自治州", "州"), ("自治县", "县"), ("自治旗", "旗"), ("自治区", "")]:
        if name.endswith(suffix):
            for i in range(len(name)):
                rest = name[i:]
                if any(rest.startswith(e) and (rest[len(e):].startswith("族") or rest[len(e):].startswith("自治"))
                       for e in ETHNIC):
                    if i >= 2:
                        return [name[:i]] + ([name[:i] + level] if level else [])
                    return []
    return []


def main():
    rows = list(csv.DictReader(open(os.path.join(ROOT, "data", "gazetteer.csv"), encoding="utf-8")))
    by_code = {r["code"]: r for r in rows}
    forms = defaultdict(set)  # a name form -> the codes it may mean
    for r in rows:
        for n in [r["name"]] + [x for x in r["former_names"].split(";") if x]:
            forms[n].add(r["code"])
            forms[core(n)].add(r["code"])
            for f in short(n):
                forms[f].add(r["code"])

    def ancestors(code):
        out = []
        p = by_code[code]["parent"]
        while p:
            out.append(p)
            p = by_code[p]["parent"]
        return out

    def label(form, code, parent=None):
        """The code `form` names, or '' when it could be several."""
        cands = forms.get(form, set())
        if parent is not None:
            cands = {c for c in cands if parent in ancestors(c)}
        return code if cands == {code} else ""

    rng = random.Random(20261201)
    out = []
    current = [r for r in rows if not r["valid_to"]]
    for r in current:
        code, name = r["code"], r["name"]
        province = ancestors(code)[-1] if ancestors(code) else None
        pname = by_code[province]["name"] if province else ""
        out.append((name, "", label(name, code)))
        organ = rng.choice(["人民政府", "政府"])
        out.append((name + organ, "", label(name, code)))
        trad = "".join(TRAD.get(c, c) for c in name)
        if trad != name:
            out.append((trad, "", label(name, code)))
        out.append((" ".join(name), "", label(name, code)))
        if core(name) != name:
            out.append((core(name), "", label(core(name), code)))
        for f in short(name):
            out.append((f, "", label(f, code)))
        if province and province != code:
            # Preceded by its province: unique among the name's divisions in that province.
            out.append((pname + name, "", label(name, code, province)))
            out.append((name, pname, label(name, code, province)))
            parent = r["parent"]
            if parent != province:
                out.append((by_code[parent]["name"] + name, "", label(name, code, parent)))
            # A parent column that contradicts it: another province.
            other = rng.choice([p for p in rows if p["level"] == "province" and p["code"] != province])
            # (labelled with what it names there: sometimes the other province has one too)
            there = {c for c in forms.get(name, set()) if other["code"] in ancestors(c)}
            out.append((name, other["name"], next(iter(there)) if len(there) == 1 else ""))
        for former in [x for x in r["former_names"].split(";") if x]:
            out.append((former, "", label(former, code)))
        if r["level"] == "county":
            out.append((code + "000000", "", code))
            out.append(("".join(chr(ord(c) + 0xFEE0) for c in code), "", code))
        for old in [x for x in r["former_codes"].split(";") if x]:
            out.append((old, "", code))
    path = os.path.join(ROOT, "tests", "data", "names.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["value", "parent", "code"])
        w.writerows(out)
    print(f"{len(out)} labelled names written to tests/data/names.csv")


if __name__ == "__main__":
    main()
