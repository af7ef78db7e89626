//! `--format html`: one self-contained page (no scripts, no external files) with the
//! verdict, every finding with its evidence and verified fix, and a picture of the
//! occupied cells where a point tag is involved. Every data-derived string is escaped.

use std::fmt::Write;

use super::html_escape as e;
use super::Lang;
use crate::decide::{Coverage, Finding};
use crate::scan::{ScanResult, Verdict};

fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v}"))
}

/// The cells as one SVG path, north up, scaled into 480 × 320 px; cells are merged
/// (k × k) when the extent has more cells than pixels, so any spread stays legible.
pub fn svg(c: &Coverage) -> String {
    // Global-grid columns are narrower towards the poles (geo::cell): put every cell
    // back at its east-west distance at the mean latitude so the picture is not sheared.
    let per_deg = crate::profile::geo::M_PER_DEG / c.grid_m;
    let lat = |r: i64| ((r as f64 + 0.5) / per_deg).to_radians().cos().max(1e-6);
    let mean_row = c.cells.iter().map(|x| x.0 as f64).sum::<f64>() / c.cells.len().max(1) as f64;
    let reference = lat(mean_row.round() as i64);
    let placed: Vec<(i64, f64)> = c
        .cells
        .iter()
        .map(|&(r, col)| (r, if c.planar { col as f64 } else { col as f64 / lat(r) * reference }))
        .collect();
    let (Some(rmin), Some(rmax)) = (placed.iter().map(|p| p.0).min(), placed.iter().map(|p| p.0).max()) else {
        return String::new();
    };
    let xmin = placed.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).floor() as i64;
    let xmax = placed.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max).floor() as i64;
    let k = (((xmax - xmin + 1) as f64 / 480.0).max((rmax - rmin + 1) as f64 / 320.0)).ceil().max(1.0) as i64;
    let mut cells: Vec<(i64, i64)> =
        placed.iter().map(|(r, x)| ((r - rmin) / k, (x.floor() as i64 - xmin) / k)).collect();
    cells.sort_unstable();
    cells.dedup();
    let (rows, cols) = (((rmax - rmin) / k + 1) as f64, ((xmax - xmin) / k + 1) as f64);
    let size = (480.0 / cols).min(320.0 / rows).clamp(1.0, 24.0);
    let (w, h) = (cols * size, rows * size);
    let top = (rmax - rmin) / k;
    let mut path = String::new();
    for (r, col) in &cells {
        let (x, y) = (*col as f64 * size, (top - r) as f64 * size);
        let _ = write!(path, "M{x:.1} {y:.1}h{size:.1}v{size:.1}h-{size:.1}z");
    }
    let cell_m = c.grid_m * k as f64;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.1} {h:.1}\" role=\"img\" \
         aria-label=\"occupied cells\"><rect width=\"100%\" height=\"100%\" fill=\"#f6f6f6\"/>\
         <path d=\"{path}\" fill=\"#b3261e\"/></svg><p class=\"caption\">{}: {} occupied cells of {} m, drawn as cells of {} m (north up)</p>",
        e(&c.tag),
        c.cells.len(),
        c.grid_m,
        cell_m
    )
}

fn finding(out: &mut String, f: &Finding, lang: Lang) {
    let zh = lang == Lang::Zh;
    let class = if f.holds() { "hold" } else { "warn" };
    let (outcome, name) = match (zh, f.determined()) {
        (true, true) => ("已确定", &f.zh.name),
        (true, false) => (crate::rules::words::outcome(f.outcome.name()), &f.zh.name),
        (false, true) => (f.status.map_or("determined", |s| s.name()), &f.item_name),
        (false, false) => (f.outcome.name(), &f.item_name),
    };
    let _ = write!(
        out,
        "<section class=\"finding {class}\"><h3><span class=\"badge\">{}</span> {} — {}</h3>",
        e(outcome),
        e(&f.item),
        e(name)
    );
    let how = f.combination.en();
    let datasets: Vec<String> = f.datasets.iter().map(|d| format!("<code>{}</code>", e(d))).collect();
    let labels = if zh {
        ["数据", "标志", "密级", "保密期限", "报送", "答复期限", "发现编号"]
    } else {
        ["datasets", "mark", "level", "period", "report to", "deadline", "finding id"]
    };
    let how = if zh { f.zh_combination.clone() } else { how };
    let _ = write!(out, "<p>{}: {} ({})</p><dl>", labels[0], datasets.join(" + "), e(&how));
    for (k, v) in [
        (labels[1], f.mark.clone()),
        (labels[2], f.level.map(|l| l.as_str().to_string())),
        (labels[3], f.period.clone()),
        (labels[4], f.addressee.clone()),
        (labels[5], f.deadline.map(|d| d.to_string())),
        (labels[6], Some(f.id.clone())),
    ] {
        if let Some(v) = v {
            let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", e(&v));
        }
    }
    if zh {
        out.push_str("</dl><table><tr><th>条件</th><th>度量值</th><th>是否满足</th></tr>");
    } else {
        out.push_str("</dl><table><tr><th>criterion</th><th>value</th><th>holds</th></tr>");
    }
    for ev in &f.evidence {
        let condition = if zh { e(&ev.words) } else { format!("<code>{}</code>", e(&ev.condition)) };
        let _ = write!(
            out,
            "<tr><td>{condition}</td><td>{}</td><td>{}</td></tr>",
            number(ev.value),
            if ev.holds { "✔" } else { "✘" }
        );
    }
    out.push_str("</table>");
    if zh {
        let _ = write!(out, "<p>处理方式：{}</p>", e(&f.zh.remediation));
    } else {
        let _ = write!(out, "<p>remediation: {}</p>", e(&f.remediation));
    }
    if let Some(fix) = &f.fix {
        let _ = write!(out, "<p class=\"fix\">verified fix: {}</p>", e(&fix.change));
    }
    if let Some(c) = &f.coverage {
        out.push_str(&svg(c));
    }
    out.push_str("</section>");
}

pub fn render(result: &ScanResult, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    let verdict = crate::report::verdict_name(result.verdict());
    let holds = result.findings.iter().filter(|f| f.holds()).count();
    let started = e(&result.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut body = if zh {
        let shown = match result.verdict() {
            Verdict::Hold => "暂控",
            Verdict::Incomplete => "不完整",
            Verdict::Warn => "提示",
            Verdict::Pass => "通过",
        };
        format!(
            "<header class=\"{verdict}\"><h1>数据发布前审查：{shown}</h1><p>暂控 {} 项，提示 {} 项，无法读取 {} 项；数据 {} 个；审查时间 {started}</p></header>",
            holds,
            result.findings.len() - holds,
            result.errors.len(),
            result.inputs.len(),
        )
    } else {
        format!(
            "<header class=\"{verdict}\"><h1>mosaic: {}</h1><p>{} hold(s), {} warning(s), {} unreadable input(s); {} input(s); started {started}</p></header>",
            verdict.to_uppercase(),
            holds,
            result.findings.len() - holds,
            result.errors.len(),
            result.inputs.len(),
        )
    };
    if result.verdict() == Verdict::Hold {
        body.push_str(if zh {
            "<p class=\"note\">暂控数据在所列机关作出决定前不得发布（待定密（先行保密）不是密级标志）。</p>"
        } else {
            "<p class=\"note\">Held data must not be released until the authority named decides (待定密（先行保密）: not a secret mark).</p>"
        });
    }
    for f in result.findings.iter().filter(|f| f.holds()).chain(result.findings.iter().filter(|f| !f.holds())) {
        finding(&mut body, f, lang);
    }
    if !result.errors.is_empty() {
        body.push_str(if zh { "<h2>无法读取的数据</h2><ul>" } else { "<h2>Unreadable inputs</h2><ul>" });
        for err in &result.errors {
            let _ = write!(body, "<li><code>{}</code>: {} ({})</li>", e(&err.input), e(&err.message), e(&err.kind));
        }
        body.push_str("</ul>");
    }
    body.push_str(if zh {
        "<h2>审查的数据</h2><table><tr><th>数据</th><th>行数</th><th>内容哈希（sha256）</th><th>标签</th></tr>"
    } else {
        "<h2>Inputs</h2><table><tr><th>dataset</th><th>rows</th><th>sha256</th><th>tags</th></tr>"
    });
    for i in &result.inputs {
        let tags: Vec<String> = i.tags.iter().map(|(t, c)| format!("{} ← {}", e(t), e(c))).collect();
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"hash\">{}</td><td>{}</td></tr>",
            e(&i.id),
            i.rows,
            e(&i.sha256),
            tags.join("<br>")
        );
    }
    let s = &result.stats;
    let _ = write!(
        body,
        "</table><p class=\"stats\">candidates {}, pruned {}, joined {}, evaluated {}</p>",
        s.candidates, s.pruned, s.joined, s.evaluated
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>mosaic: {verdict}</title><style>{CSS}</style></head><body>{body}</body></html>\n",
        if lang == Lang::Zh { "zh-CN" } else { "en" }
    )
}

const CSS: &str = "body{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:2em auto;max-width:60em;color:#111}\
header{padding:.5em 1em;border-radius:6px;color:#fff}header.hold,header.incomplete{background:#b3261e}header.warn{background:#8a6d00}header.pass{background:#1e6b34}\
section.finding{border:1px solid #ccc;border-left:6px solid #b3261e;padding:.5em 1em;margin:1em 0}section.warn{border-left-color:#8a6d00}\
.badge{font-size:.8em;background:#eee;padding:.1em .4em;border-radius:4px}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{color:#555}dd{margin:0}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.hash{font-family:monospace;font-size:.8em;word-break:break-all}\
.fix{color:#1e6b34}.caption{color:#555;font-size:.85em}";
