//! Names: normalisation of Chinese names and their resolution to administrative
//! division codes through a gazetteer (DESIGN §4a).
//!
//! Normalisation: traditional → simplified (fast2s, MIT), full-width → half-width,
//! spaces and punctuation dropped. Organ suffixes (人民政府, 委员会 …) are dropped;
//! administrative suffixes (省, 市, 区, 县, 自治县, 旗 …) only while at least two
//! characters remain, so 忠县 stays 忠县 and 朝阳区 becomes 朝阳. A name resolves to a
//! division when exactly one division fits it (its own name, its core, a former name,
//! optionally preceded by the names of divisions that contain it: 重庆市忠县), and
//! the stated parent, if any, contains it. Ambiguity resolves to nothing, never to a
//! guess: a false link can make a false hold.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use polars::prelude::*;

pub use crate::normal::{normalise, Aliases, Matched};
use crate::rules::TagKind;

/// Organ suffixes: the government of a division is the division.
const ORGANS: [&str; 8] = ["人民代表大会", "人民政府", "委员会", "管委会", "办事处", "政府", "党委", "人大"];

/// Administrative suffixes, longest first.
const SUFFIXES: [&str; 15] = [
    "特别行政区",
    "自治县",
    "自治旗",
    "自治州",
    "自治区",
    "林区",
    "特区",
    "地区",
    "新区",
    "省",
    "市",
    "区",
    "县",
    "旗",
    "盟",
];

/// China's ethnic groups other than Han, as autonomous division names write them.
const ETHNIC: [&str; 55] = [
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// The short forms of an autonomous division's name, as releases write it: the place
/// before the first ethnic group, with and without the level (恩施土家族苗族自治州 →
/// 恩施州, 恩施; 石柱土家族自治县 → 石柱县, 石柱).
pub fn short_forms(name: &str) -> Vec<String> {
    let level = [("自治州", "州"), ("自治县", "县"), ("自治旗", "旗"), ("自治区", "")]
        .into_iter()
        .find(|(s, _)| name.ends_with(s));
    let Some((_, short)) = level else { return vec![] };
    let cut = name.char_indices().map(|(i, _)| i).find(|&i| {
        let rest = &name[i..];
        ETHNIC
            .iter()
            .any(|e| rest.starts_with(e) && (rest[e.len()..].starts_with('族') || rest[e.len()..].starts_with("自治")))
    });
    match cut {
        Some(i) if name[..i].chars().count() >= 2 => {
            let place = name[..i].to_string();
            let mut forms = vec![place.clone()];
            if !short.is_empty() {
                forms.push(format!("{place}{short}"));
            }
            forms
        }
        _ => vec![],
    }
}

/// Drop organ suffixes (人民政府, 委员会 …) from a normalised name.
pub fn drop_organs(name: &str) -> &str {
    let mut s = name;
    loop {
        match ORGANS.iter().find(|o| s.ends_with(**o) && s.chars().count() > o.chars().count()) {
            Some(o) => s = &s[..s.len() - o.len()],
            None => return s,
        }
    }
}

/// Strip any of `suffixes` (repeatedly, longest first) while at least two characters remain.
pub fn strip<'a>(name: &'a str, suffixes: &[&str]) -> &'a str {
    let mut s = name;
    loop {
        let next = suffixes
            .iter()
            .filter(|x| !x.is_empty() && s.ends_with(**x) && s.chars().count() >= x.chars().count() + 2)
            .max_by_key(|x| x.len());
        match next {
            Some(x) => s = &s[..s.len() - x.len()],
            None => return s,
        }
    }
}

/// The core of a division name: its administrative suffix stripped once, if two characters remain.
pub fn core(name: &str) -> &str {
    match SUFFIXES.iter().find(|x| name.ends_with(**x) && name.chars().count() >= x.chars().count() + 2) {
        Some(x) => &name[..name.len() - x.len()],
        None => name,
    }
}

/// A facility name as name tags compare it: normalised, organ suffixes and the pack's
/// suffixes stripped.
pub fn facility_key(text: &str, suffixes: &[String]) -> Option<String> {
    let n = normalise(text);
    let suffixes: Vec<&str> = suffixes.iter().map(String::as_str).collect();
    let s = strip(drop_organs(&n), &suffixes);
    (!s.is_empty()).then(|| s.to_string())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent: Option<usize>,
}

/// The divisions, indexed by name forms and codes.
#[derive(Debug, Default)]
pub struct Gazetteer {
    pub divisions: Vec<Division>,
    by_name: HashMap<String, Vec<usize>>,
    by_code: HashMap<String, usize>,
    /// Where the table came from (`bundled` or a path), for reports.
    pub origin: String,
}

/// A gazetteer file that cannot be used: the message names the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GazetteerError(pub String);

impl std::fmt::Display for GazetteerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const BUNDLED: &str = include_str!("../../data/gazetteer.csv");
const HEADER: [&str; 8] = ["code", "name", "level", "parent", "valid_from", "valid_to", "former_names", "former_codes"];

static CHOSEN: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
static LOADED: OnceLock<Result<Gazetteer, GazetteerError>> = OnceLock::new();

/// Use `path` instead of the bundled table (`--gazetteer`). Call before [`get`].
pub fn choose(path: Option<&Path>) {
    let _ = CHOSEN.set(path.map(Path::to_path_buf));
}

/// The gazetteer in use, loaded once.
pub fn get() -> Result<&'static Gazetteer, GazetteerError> {
    LOADED
        .get_or_init(|| match CHOSEN.get().cloned().flatten() {
            None => Gazetteer::parse(BUNDLED, "bundled data/gazetteer.csv"),
            Some(path) => {
                let shown = path.display().to_string();
                let bytes =
                    std::fs::read(&path).map_err(|e| GazetteerError(format!("gazetteer {shown}: cannot read: {e}")))?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    GazetteerError(format!(
                        "gazetteer {shown}: not UTF-8 (byte {}); save it as UTF-8",
                        e.utf8_error().valid_up_to()
                    ))
                })?;
                Gazetteer::parse(&text, &shown)
            }
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A code in canonical form: 12-digit codes of provinces, cities and counties (six
/// trailing zeros) become their 6-digit adcode; other 12-digit codes (townships) stay.
pub fn canonical_code(text: &str) -> Option<String> {
    let digits: String = text
        .trim()
        .chars()
        .map(
            |c| if ('\u{FF10}'..='\u{FF19}').contains(&c) { char::from_u32(c as u32 - 0xFEE0).unwrap_or(c) } else { c },
        )
        .collect();
    let digits = digits.strip_suffix(".0").unwrap_or(&digits);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.len() {
        6 => Some(digits.to_string()),
        12 if digits.ends_with("000000") => Some(digits[..6].to_string()),
        12 => Some(digits.to_string()),
        _ => None,
    }
}

impl Gazetteer {
    /// Read the CSV table (header as in data/GAZETTEER.md); every problem names its line.
    pub fn parse(text: &str, origin: &str) -> Result<Gazetteer, GazetteerError> {
        let err = |line: usize, m: String| GazetteerError(format!("gazetteer {origin}, line {line}: {m}"));
        let mut lines = text.lines().enumerate();
        let header: Vec<&str> = match lines.next() {
            Some((_, h)) => h.trim_start_matches('\u{feff}').split(',').map(str::trim).collect(),
            None => return Err(GazetteerError(format!("gazetteer {origin}: empty file"))),
        };
        let index = |name: &str| header.iter().position(|h| *h == name);
        let missing: Vec<&str> = HEADER[..4].iter().copied().filter(|h| index(h).is_none()).collect();
        if !missing.is_empty() {
            return Err(err(
                1,
                format!("missing column(s) {}; the header is {}", missing.join(", "), HEADER.join(",")),
            ));
        }
        let col = |fields: &[&str], name: &str| index(name).and_then(|i| fields.get(i).map(|s| s.trim().to_string()));
        let mut g = Gazetteer { origin: origin.to_string(), ..Gazetteer::default() };
        let mut parents: Vec<(usize, String, usize)> = Vec::new();
        let mut aliases: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
        for (i, line) in lines {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            if line.chars().any(|c| c.is_control() && c != '\t' && c != '\r') {
                return Err(err(n, "control character in the line".into()));
            }
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(err(n, format!("{} fields, the header has {}", fields.len(), header.len())));
            }
            let raw_code = col(&fields, "code").unwrap_or_default();
            let Some(code) = canonical_code(&raw_code) else {
                return Err(err(n, format!("code `{raw_code}` is not a 6- or 12-digit division code")));
            };
            let name = normalise(&col(&fields, "name").unwrap_or_default());
            if name.is_empty() {
                return Err(err(n, format!("division {code} has no name")));
            }
            let level = col(&fields, "level").unwrap_or_default();
            if !["province", "city", "county", "township"].contains(&level.as_str()) {
                return Err(err(n, format!("level `{level}`; known: province, city, county, township")));
            }
            let idx = g.divisions.len();
            if g.by_code.insert(code.clone(), idx).is_some() {
                return Err(err(n, format!("duplicate code {code}")));
            }
            let parent = col(&fields, "parent").unwrap_or_default();
            if !parent.is_empty() {
                parents.push((idx, parent, n));
            }
            let list = |name: &str| -> Vec<String> {
                col(&fields, name)
                    .map(|s| s.split(';').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect())
                    .unwrap_or_default()
            };
            aliases.push((idx, list("former_names"), list("former_codes")));
            g.divisions.push(Division { code, name, level, parent: None });
        }
        for (idx, parent, n) in parents {
            let p = canonical_code(&parent).and_then(|c| g.by_code.get(&c).copied());
            match p {
                Some(p) if p != idx => g.divisions[idx].parent = Some(p),
                _ => return Err(err(n, format!("parent `{parent}` is not a code in the file"))),
            }
        }
        for (idx, names, codes) in aliases {
            for c in codes {
                if let Some(c) = canonical_code(&c) {
                    g.by_code.entry(c).or_insert(idx);
                }
            }
            let mut forms = vec![g.divisions[idx].name.clone()];
            forms.extend(names.iter().map(|n| normalise(n)));
            for f in forms {
                g.index_name(&f, idx);
            }
        }
        Ok(g)
    }

    fn index_name(&mut self, name: &str, idx: usize) {
        let mut forms: BTreeSet<String> = BTreeSet::new();
        forms.insert(name.to_string());
        forms.insert(core(name).to_string());
        forms.extend(short_forms(name));
        for f in forms {
            let list = self.by_name.entry(f).or_default();
            if !list.contains(&idx) {
                list.push(idx);
            }
        }
    }

    /// Is `a` the division `b` or one that contains it?
    pub fn contains(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        while let Some(x) = at {
            if x == a {
                return true;
            }
            at = self.divisions[x].parent;
        }
        false
    }

    /// The division a code names (former codes lead to their successor).
    pub fn by_code(&self, code: &str) -> Option<usize> {
        self.by_code.get(&canonical_code(code)?).copied()
    }

    /// Every division a normalised name could be, without parent context.
    fn candidates(&self, name: &str, depth: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        if let Some(list) = self.by_name.get(name) {
            out.extend(list);
        }
        // A name preceded by the names of divisions containing it: 重庆市忠县, 北京朝阳区.
        if depth < 3 {
            for (i, _) in name.char_indices().skip(1) {
                let (head, tail) = name.split_at(i);
                let Some(list) = self.by_name.get(tail) else { continue };
                if tail.chars().count() < 2 {
                    continue;
                }
                let heads = self.candidates(head, depth + 1);
                for &d in list {
                    if heads.iter().any(|&h| h != d && self.contains(h, d)) && !out.contains(&d) {
                        out.push(d);
                    }
                }
            }
        }
        // A name that also matches the divisions containing one of its matches (北京市
        // for 北京) is that match, not ambiguous: keep the most specific.
        out
    }

    /// Resolve a region value — a name or a code — to a division code. `parent` is the
    /// value of a column naming a division that contains it. `None`: unknown,
    /// ambiguous, or outside its stated parent.
    pub fn resolve(&self, value: &str, parent: Option<&str>) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        if let Some(code) = canonical_code(value) {
            // Codes resolve to themselves (or their successor) whether listed or not:
            // equal codes link even below the gazetteer's levels.
            return Some(self.by_code(&code).map(|i| self.divisions[i].code.clone()).unwrap_or(code));
        }
        let name = normalise(value);
        let name = drop_organs(&name);
        let mut found = self.candidates(name, 0);
        if found.is_empty() {
            found = self.candidates(core(name), 0);
        }
        let parent = parent.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = parent {
            let within: Vec<usize> = match self.resolve(p, None).and_then(|c| self.by_code(&c)) {
                Some(pd) => found.iter().copied().filter(|&d| d != pd && self.contains(pd, d)).collect(),
                // A parent that names no division constrains nothing it can tell.
                None => found.clone(),
            };
            found = within;
        }
        match found.as_slice() {
            [one] => Some(self.divisions[*one].code.clone()),
            _ => None,
        }
    }
}

/// Fuzzy matches between the distinct normalised names of several datasets
/// (`names[d]`, sorted): a name with no equal in another dataset links to that
/// dataset's name with the highest Jaro–Winkler score at or above `min_score` when the
/// best is unique and the two are each other's best. Names are compared within the
/// same first character (a blocking that keeps the cost near-linear).
pub fn fuzzy_matches(names: &[Vec<String>], min_score: f64) -> Matched {
    let mut parent: HashMap<String, String> = HashMap::new();
    fn find(parent: &mut HashMap<String, String>, x: &str) -> String {
        let mut at = x.to_string();
        while let Some(p) = parent.get(&at).filter(|p| **p != at) {
            at = p.clone();
        }
        at
    }
    let blocks = |list: &[String]| -> HashMap<char, Vec<usize>> {
        let mut b: HashMap<char, Vec<usize>> = HashMap::new();
        for (i, n) in list.iter().enumerate() {
            if let Some(c) = n.chars().next() {
                b.entry(c).or_default().push(i);
            }
        }
        b
    };
    let best = |x: &str, list: &[String], block: &HashMap<char, Vec<usize>>| -> Option<(usize, f64)> {
        let first = x.chars().next()?;
        let (mut top, mut second): (Option<(usize, f64)>, f64) = (None, 0.0);
        for &j in block.get(&first)? {
            let score = strsim::jaro_winkler(x, &list[j]);
            match top {
                Some((_, t)) if score <= t => second = second.max(score),
                _ => {
                    second = top.map_or(second, |(_, t)| t.max(second));
                    top = Some((j, score));
                }
            }
        }
        top.filter(|(_, t)| *t >= min_score && *t > second)
    };
    let mut matches = Vec::new();
    let all_blocks: Vec<HashMap<char, Vec<usize>>> = names.iter().map(|l| blocks(l)).collect();
    for a in 0..names.len() {
        for b in a + 1..names.len() {
            for x in &names[a] {
                if names[b].binary_search(x).is_ok() {
                    continue; // equal names link without matching
                }
                let Some((j, score)) = best(x, &names[b], &all_blocks[b]) else { continue };
                let y = &names[b][j];
                if names[a].binary_search(y).is_ok() {
                    continue;
                }
                let back = best(y, &names[a], &all_blocks[a]);
                if back.is_some_and(|(i, _)| names[a][i] == *x) {
                    let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
                    let (lo, hi) = if rx <= ry { (rx, ry) } else { (ry, rx) };
                    parent.insert(hi, lo.clone());
                    parent.entry(lo).or_insert_with_key(|k| k.clone());
                    matches.push((a, b, score));
                }
            }
        }
    }
    let keys: Vec<String> = parent.keys().cloned().collect();
    let representative = keys.into_iter().map(|k| (k.clone(), find(&mut parent, &k))).filter(|(k, r)| k != r).collect();
    Matched { representative, matches }
}

/// The values a binding links datasets on, found from the dataset's column names
/// (a region tag's `parent` column), with the id of that expression. Keys are
/// identified by their column (as profiles store their counts); tags of other kinds
/// do not link by value.
pub fn link_of<'a>(
    tag: &crate::rules::Tag,
    binding: &crate::tag::Binding,
    columns: impl IntoIterator<Item = &'a str>,
) -> Option<(String, Expr)> {
    if !binding.kind.links_by_value() {
        return None;
    }
    let column = binding.columns.names()[0].to_string();
    if binding.kind == TagKind::Key {
        return Some((column.clone(), col(column.as_str()).cast(DataType::String)));
    }
    let columns: Vec<&str> = columns.into_iter().collect();
    let parent = tag.link.parent.iter().find_map(|p| columns.iter().find(|n| n.to_lowercase() == *p && **n != column));
    Some(link_value(tag, binding.kind, &column, parent.copied()))
}

/// The values a tag links datasets on (DESIGN §4a), as an expression over the
/// dataset's columns, and an id naming that expression (equal ids, equal values):
/// keys as written, region values resolved to division codes (`parent` is the column
/// naming the containing division), names normalised with the tag's suffixes stripped.
pub fn link_value(tag: &crate::rules::Tag, kind: TagKind, column: &str, parent: Option<&str>) -> (String, Expr) {
    match kind {
        TagKind::Region => {
            let id = format!("region:{column}:{}", parent.unwrap_or(""));
            let mut inputs = vec![col(column)];
            if let Some(p) = parent {
                inputs.push(col(p));
            }
            let expr = map_text(inputs, || {
                let g = get().map_err(|e| polars_err!(ComputeError: "{e}"))?;
                Ok(Box::new(move |v: &str, p: Option<&str>| g.resolve(v, p)))
            });
            (id, expr)
        }
        TagKind::Name => {
            let suffixes = tag.link.strip_suffixes.clone();
            let fuzzy = tag.link.min_score.map(|_| tag.link.aliases.clone());
            let id = format!("name:{column}:{}{}", suffixes.join("|"), if fuzzy.is_some() { ":fuzzy" } else { "" });
            let expr = map_text(vec![col(column)], move || {
                let suffixes = suffixes.clone();
                let matched = fuzzy.as_ref().map(Aliases::get);
                Ok(Box::new(move |v: &str, _: Option<&str>| {
                    let key = facility_key(v, &suffixes)?;
                    Some(match matched.as_ref().and_then(|m| m.representative.get(&key)) {
                        Some(r) => r.clone(),
                        None => key,
                    })
                }))
            });
            (id, expr)
        }
        _ => (format!("key:{column}"), col(column).cast(DataType::String)),
    }
}

type Resolver = Box<dyn Fn(&str, Option<&str>) -> Option<String>>;

/// Map text values (and an optional second column of context) through a resolver,
/// each distinct pair resolved once.
fn map_text(inputs: Vec<Expr>, make: impl Fn() -> PolarsResult<Resolver> + Send + Sync + 'static) -> Expr {
    let first = inputs[0].clone();
    first.map_many(
        move |cols: &mut [Column]| {
            let resolve = make()?;
            let name = cols[0].name().clone();
            let a = cols[0].as_materialized_series().cast(&DataType::String)?;
            let b = match cols.get(1) {
                Some(c) => Some(c.as_materialized_series().cast(&DataType::String)?),
                None => None,
            };
            let a = a.str()?;
            let b = match &b {
                Some(s) => Some(s.str()?),
                None => None,
            };
            let mut cache: HashMap<(String, Option<String>), Option<String>> = HashMap::new();
            let out: StringChunked = (0..a.len())
                .map(|i| {
                    let v = a.get(i)?;
                    let p = b.and_then(|b| b.get(i));
                    cache.entry((v.to_string(), p.map(String::from))).or_insert_with(|| resolve(v, p)).clone()
                })
                .collect();
            Ok(out.with_name(name).into_column())
        },
        &inputs[1..],
        |_, f| Ok(Field::new(f[0].name().clone(), DataType::String)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> &'static Gazetteer {
        get().expect("bundled gazetteer loads")
    }

    #[test]
    fn forms_of_a_county_resolve_to_its_code() {
        for v in [
            "忠县",
            "忠縣",
            "忠县人民政府",
            "重庆市忠县",
            "重庆忠县",
            " 忠 县 ",
            "500233",
            "500233000000",
            "５００２３３",
        ] {
            assert_eq!(g().resolve(v, None).as_deref(), Some("500233"), "{v}");
        }
    }

    #[test]
    fn ambiguous_names_resolve_only_with_their_parent() {
        assert_eq!(g().resolve("朝阳区", None), None);
        assert_eq!(g().resolve("朝阳区", Some("北京市")).as_deref(), Some("110105"));
        assert_eq!(g().resolve("朝阳", Some("长春市")).as_deref(), Some("220104"));
        assert_eq!(g().resolve("北京市朝阳区", None).as_deref(), Some("110105"));
        assert_eq!(g().resolve("朝阳区", Some("重庆市")), None, "a parent that does not contain it");
    }

    #[test]
    fn former_names_and_codes_lead_to_the_successor() {
        assert_eq!(g().resolve("大同县", None).as_deref(), Some("140215"));
        assert_eq!(g().resolve("140227", None).as_deref(), Some("140215"));
        assert_eq!(g().resolve("云州区", None).as_deref(), Some("140215"));
    }

    #[test]
    fn autonomous_divisions_resolve_by_their_short_names() {
        assert_eq!(short_forms("恩施土家族苗族自治州"), vec!["恩施".to_string(), "恩施州".to_string()]);
        assert_eq!(short_forms("博尔塔拉蒙古自治州"), vec!["博尔塔拉".to_string(), "博尔塔拉州".to_string()]);
        assert_eq!(g().resolve("恩施州", None).as_deref(), Some("422800"));
        assert_eq!(g().resolve("石柱县", None).as_deref(), Some("500240"));
        // 恩施 alone is the prefecture or its seat, 恩施市: nothing.
        assert_eq!(g().resolve("恩施", None), None);
    }

    #[test]
    fn suffixes_are_stripped_only_while_two_characters_remain() {
        assert_eq!(core("忠县"), "忠县");
        assert_eq!(core("朝阳区"), "朝阳");
        assert_eq!(strip("石宝变电站", &["变电站", "站"]), "石宝");
        assert_eq!(strip("东站", &["站"]), "东站");
        assert_eq!(facility_key("石寶變電站", &["变电站".into(), "站".into()]).as_deref(), Some("石宝"));
    }

    #[test]
    fn fuzzy_matches_are_unique_mutual_bests() {
        let sorted = |v: &[&str]| {
            let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        let names = vec![sorted(&["青山湖", "石门坎", "白水河"]), sorted(&["青山湖", "石门坝", "白水江", "白水湖"])];
        let m = fuzzy_matches(&names, 0.8);
        // 石门坎 ~ 石门坝; 白水河 is as close to 白水江 as to 白水湖: no link.
        assert_eq!(m.representative.get("石门坝").map(String::as_str), Some("石门坎"), "{m:?}");
        assert!(!m.representative.contains_key("白水河") && !m.representative.contains_key("白水江"), "{m:?}");
        assert_eq!(m.matches.len(), 1);
        assert!(m.lowest_among(&[0, 1]).unwrap() >= 0.8);
        assert!(fuzzy_matches(&names, 0.95).matches.is_empty());
    }

    #[test]
    fn bad_gazetteers_are_refused_with_the_line() {
        let dup = "code,name,level,parent\n110000,北京市,province,\n110000,北京,province,\n";
        assert!(Gazetteer::parse(dup, "t").unwrap_err().0.contains("line 3: duplicate code 110000"));
        let missing = "code,name,parent\n110000,北京市,\n";
        assert!(Gazetteer::parse(missing, "t").unwrap_err().0.contains("missing column(s) level"));
        let parent = "code,name,level,parent\n110105,朝阳区,county,110000\n";
        assert!(Gazetteer::parse(parent, "t").unwrap_err().0.contains("parent `110000`"));
        let control = "code,name,level,parent\n110000,北京\u{7}市,province,\n";
        assert!(Gazetteer::parse(control, "t").unwrap_err().0.contains("line 2: control"));
    }
}
