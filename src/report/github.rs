//! GitHub Actions workflow commands: an `::error` annotation per hold and per
//! unreadable input (it fails the gate), `::warning` per warning, `::notice` per
//! determined finding, each placed on the dataset's file when the finding names one.

use std::fmt::Write;

use crate::scan::ScanResult;

/// Escape a message (`%`, CR, LF) and, for properties, also `:` and `,`.
fn escape(s: &str, property: bool) -> String {
    let mut out = s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

pub fn render(result: &ScanResult) -> String {
    let mut out = String::new();
    let path = |id: &str| result.inputs.iter().find(|i| i.id == id).map(|i| i.path.clone());
    for f in &result.findings {
        let command = if f.determined() {
            "notice"
        } else if f.holds() {
            "error"
        } else {
            "warning"
        };
        let file = match f.datasets.as_slice() {
            [one] => path(one).map(|p| format!("file={},", escape(&p, true))).unwrap_or_default(),
            _ => String::new(),
        };
        let evidence: Vec<String> =
            f.evidence.iter().map(|e| format!("{} (value {})", e.condition, super::junit::value(e.value))).collect();
        let message = format!(
            "{}: {} on {} — {}; remediation: {}",
            f.status.map_or(f.outcome.name(), |s| s.name()),
            f.item,
            f.datasets.join(" + "),
            evidence.join("; "),
            f.remediation
        );
        let _ = writeln!(
            out,
            "::{command} {file}title={}::{}",
            escape(&format!("mosaic {}", f.item_name), true),
            escape(&message, false)
        );
    }
    for e in &result.errors {
        let _ = writeln!(
            out,
            "::error title={}::{}",
            escape(&format!("mosaic: unreadable input ({})", e.kind), true),
            escape(&format!("{}: {} — never read as clean", e.input, e.message), false)
        );
    }
    let _ = writeln!(out, "mosaic: {}", crate::report::verdict_name(result.verdict()));
    out
}
