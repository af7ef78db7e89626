//! Human-readable report: findings grouped by outcome, evidence under each,
//! errors, tag inferences, and a one-line summary at the end.

use std::fmt::Write;

use super::Lang;
use crate::decide::{Finding, Outcome};
use crate::scan::ScanResult;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v}"))
}

fn status_zh(f: &Finding) -> &'static str {
    match f.status {
        Some(crate::decide::Status::Released) => "不属于国家秘密，已发布",
        Some(crate::decide::Status::DeterminedSecret) => "属于国家秘密",
        Some(crate::decide::Status::Disputed) => "有争议，按最高拟定密级保护",
        _ => "不属于国家秘密",
    }
}

fn finding_zh(out: &mut String, f: &Finding, p: &Paint) {
    let words = crate::rules::words::outcome(f.outcome.name());
    let head = match f.outcome {
        _ if f.determined() => p.dim(&format!("已确定  {}", status_zh(f))),
        o if o.holds() => p.red(&format!("暂控  {words}")),
        Outcome::NearThreshold => p.yellow(&format!("提示  {words}")),
        _ => p.dim(&format!("记录  {words}")),
    };
    let _ = writeln!(out, "{head}  {} — {}", p.bold(&f.item), f.zh.name);
    let _ = writeln!(out, "      数据：{}（{}）", f.datasets.join(" + "), f.zh_combination);
    if let Some(mark) = &f.mark {
        let _ = writeln!(out, "      标志：{mark}");
    }
    if let (Some(level), Some(period)) = (&f.level, &f.period) {
        let _ = writeln!(out, "      密级：{level}，保密期限：{period}");
    }
    if let Some(addressee) = f.addressee.as_ref().filter(|_| !f.determined()) {
        let deadline = f.deadline.map(|d| format!("，{d} 前")).unwrap_or_default();
        let _ = writeln!(out, "      报送：{addressee}{deadline}");
    }
    for e in &f.evidence {
        let tick = if e.holds { p.red("✔") } else { p.dim("✘") };
        let approximate = if e.band.is_some() { "（估计值）" } else { "" };
        let _ = writeln!(out, "      {tick} {}{approximate}", e.words);
    }
    let _ = writeln!(out, "      处理方式：{}", f.zh.remediation);
    if let Some(d) = &f.determination {
        let decision = if d.decision == "secret" { "属于国家秘密" } else { "不属于国家秘密" };
        let mark = d.mark.as_ref().map(|m| format!("，标志 {m}")).unwrap_or_default();
        let _ = writeln!(out, "      已确定：{decision}（暂控 {}，{}{mark}）：{}", d.hold, d.decided, d.basis);
    }
    if let Some(fix) = &f.fix {
        let _ = writeln!(out, "      已验证的处理：{}", fix.change);
    }
    let _ = writeln!(out, "      编号：{}", p.dim(&f.id));
    out.push('\n');
}

fn finding(out: &mut String, f: &Finding, p: &Paint, lang: Lang) {
    if lang == Lang::Zh {
        return finding_zh(out, f, p);
    }
    let head = match f.outcome {
        _ if f.determined() => p.dim(&format!("DETERMINED  {}", f.status.map_or("not_secret", |s| s.name()))),
        o if o.holds() => p.red(&format!("HOLD  {}", o.name())),
        Outcome::NearThreshold => p.yellow("WARN  near_threshold"),
        o => p.dim(&format!("NOTE  {}", o.name())),
    };
    let _ = writeln!(out, "{head}  {} — {}", p.bold(&f.item), f.item_name);
    let how = f.combination.en();
    let _ = writeln!(out, "      datasets: {} ({how})", f.datasets.join(" + "));
    if let Some(mark) = &f.mark {
        let _ = writeln!(out, "      mark: {mark}");
    }
    if let (Some(level), Some(period)) = (&f.level, &f.period) {
        let _ = writeln!(out, "      level: {level}, period: {period}");
    }
    if let Some(addressee) = f.addressee.as_ref().filter(|_| !f.determined()) {
        let deadline = f.deadline.map(|d| format!(" by {d}")).unwrap_or_default();
        let _ = writeln!(out, "      report to: {addressee}{deadline}");
    }
    for e in &f.evidence {
        let tick = if e.holds { p.red("✔") } else { p.dim("✘") };
        match e.band {
            Some([lo, hi]) => {
                let _ = writeln!(
                    out,
                    "      {tick} {}   (value ≈{}, approximate: {}…{})",
                    e.condition,
                    number(e.value),
                    number(Some(lo)),
                    number(Some(hi))
                );
            }
            None => {
                let _ = writeln!(out, "      {tick} {}   (value {})", e.condition, number(e.value));
            }
        }
    }
    let _ = writeln!(out, "      remediation: {}", f.remediation);
    if let Some(d) = &f.determination {
        let mark = d.mark.as_ref().map(|m| format!(", mark {m}")).unwrap_or_default();
        let _ = writeln!(out, "      determined {} (hold {}, {}{mark}): {}", d.decision, d.hold, d.decided, d.basis);
    } else if let Some(status) = f.status.filter(|s| *s != crate::decide::Status::Open) {
        let _ = writeln!(out, "      status: {}", status.name());
    }
    if let Some(fix) = &f.fix {
        let _ = writeln!(out, "      verified fix: {}", fix.change);
    }
    let _ = writeln!(out, "      id: {}", p.dim(&f.id));
    out.push('\n');
}

pub fn render(result: &ScanResult, color: bool, lang: Lang) -> String {
    let p = Paint { on: color };
    let mut out = String::new();
    for f in result.findings.iter().filter(|f| f.holds()) {
        finding(&mut out, f, &p, lang);
    }
    for f in result.findings.iter().filter(|f| !f.holds() && !f.determined()) {
        finding(&mut out, f, &p, lang);
    }
    for f in result.findings.iter().filter(|f| f.determined()) {
        finding(&mut out, f, &p, lang);
    }
    for e in &result.errors {
        let _ = writeln!(out, "{}  {}: {} ({})", p.red("ERROR"), e.input, e.message, e.kind);
    }
    if !result.errors.is_empty() {
        out.push('\n');
    }
    if !result.tagging.is_empty() {
        let _ =
            writeln!(out, "{}", p.dim("tags inferred (check them; correct with a <dataset>.mosaic.toml manifest):"));
        for t in &result.tagging {
            let note = t.note.as_ref().map(|n| format!("; {n}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}",
                p.dim(&format!("  {}: {} → {} ({}{note})", t.input, t.column, t.tag, t.how.name()))
            );
        }
        out.push('\n');
    }
    for pack in &result.packs_not_in_force {
        let _ = writeln!(
            out,
            "{}",
            p.yellow(&format!(
                "pack {} {} not applied: not in force on {}",
                pack.id,
                pack.version,
                result.started.date_naive()
            ))
        );
    }
    if !result.unbound.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            p.yellow("looks like positions, not bound — map it in a manifest (<dataset>.mosaic.toml):")
        );
        for u in &result.unbound {
            let _ = writeln!(out, "{}", p.yellow(&format!("  {}: {} ({})", u.input, u.columns, u.looks_like)));
        }
        out.push('\n');
    }
    if result.inputs.is_empty() && result.errors.is_empty() {
        let _ = writeln!(out, "{}", p.red("nothing was evaluated: no data file among the inputs"));
    }
    if !result.skipped.is_empty() {
        let _ = writeln!(out, "{}", p.dim(&format!("skipped (not a data file): {}", result.skipped.join(", "))));
    }
    for o in &result.overdue {
        let line = if lang == Lang::Zh {
            format!(
                "逾期  暂控 {}（发现 {}）：报送{}的答复期限 {} 已过，尚未确定 — 请催办：mosaic notice render {} --reminder",
                o.hold, o.finding, o.addressee, o.deadline, o.hold
            )
        } else {
            format!(
                "OVERDUE  hold {} (finding {}): {} has not decided by {} — send a reminder: mosaic notice render {} --reminder",
                o.hold, o.finding, o.addressee, o.deadline, o.hold
            )
        };
        let _ = writeln!(out, "{}", p.red(&line));
    }
    if !result.overdue.is_empty() {
        out.push('\n');
    }
    let holds = result.findings.iter().filter(|f| f.holds()).count();
    let warnings = result.findings.iter().filter(|f| !f.holds() && !f.determined()).count();
    let determined = result.findings.iter().filter(|f| f.determined()).count();
    let verdict = crate::report::verdict_name(result.verdict());
    let shown = match result.verdict() {
        crate::scan::Verdict::Hold | crate::scan::Verdict::Incomplete => p.red(verdict),
        crate::scan::Verdict::Warn => p.yellow(verdict),
        crate::scan::Verdict::Pass => p.green(verdict),
    };
    if lang == Lang::Zh {
        let verdict = match result.verdict() {
            crate::scan::Verdict::Hold => p.red("暂控"),
            crate::scan::Verdict::Incomplete => p.red("不完整"),
            crate::scan::Verdict::Warn => p.yellow("提示"),
            crate::scan::Verdict::Pass => p.green("通过"),
        };
        let determined = if determined > 0 { format!("，已确定 {determined} 项") } else { String::new() };
        let _ = writeln!(
            out,
            "{verdict}：暂控 {holds} 项，提示 {warnings} 项{determined}，无法读取 {} 项；数据 {} 个，规则包 {} 个",
            result.errors.len(),
            result.inputs.len(),
            result.packs.len()
        );
        return out;
    }
    let determined = if determined > 0 { format!(", {determined} determined") } else { String::new() };
    let _ = writeln!(
        out,
        "{shown}: {holds} hold(s), {warnings} warning(s){determined}, {} unreadable input(s); {} input(s), {} pack(s)",
        result.errors.len(),
        result.inputs.len(),
        result.packs.len()
    );
    out
}
