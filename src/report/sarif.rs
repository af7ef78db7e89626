//! SARIF 2.1.0 for code-scanning dashboards: one rule per catalog item, one result
//! per finding located at its datasets.

use serde_json::{json, Value};

use crate::decide::Outcome;
use crate::rules::Catalog;
use crate::scan::ScanResult;

pub fn render(result: &ScanResult, catalog: &Catalog) -> String {
    let rules: Vec<Value> = catalog
        .packs
        .iter()
        .flat_map(|p| p.items.iter().map(move |i| (p, i)))
        .map(|(p, i)| {
            json!({
                "id": i.id,
                "name": i.name,
                "shortDescription": {"text": i.name},
                "fullDescription": {"text": i.harm},
                "help": {"text": i.remediation},
                "properties": {"pack": p.id, "packVersion": p.version, "level": i.level.map(|l| l.as_str())},
            })
        })
        .collect();
    let input_path = |id: &str| result.inputs.iter().find(|i| i.id == id).map_or(id.to_string(), |i| i.path.clone());
    let results: Vec<Value> = result
        .findings
        .iter()
        .map(|f| {
            let level = match f.outcome {
                _ if f.determined() => "note",
                o if o.holds() => "error",
                Outcome::NearThreshold => "warning",
                _ => "note",
            };
            let evidence: Vec<String> = f.evidence.iter().map(|e| format!("{} [{}]", e.condition, if e.holds { "holds" } else { "not met" })).collect();
            json!({
                "ruleId": f.item,
                "level": level,
                "message": {"text": format!("{}: {} — {}", f.outcome.name(), f.item_name, evidence.join("; "))},
                "locations": f.datasets.iter().map(|d| json!({"physicalLocation": {"artifactLocation": {"uri": input_path(d)}}})).collect::<Vec<_>>(),
                "partialFingerprints": {"mosaicFindingId": f.id},
                "properties": {"outcome": f.outcome.name(), "mark": f.mark, "addressee": f.addressee, "deadline": f.deadline.map(|d| d.to_string())},
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mosaic", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
            "invocations": [{"executionSuccessful": result.errors.is_empty(), "toolExecutionNotifications": result.errors.iter().map(|e| json!({"level": "error", "message": {"text": format!("{}: {}", e.input, e.message)}})).collect::<Vec<_>>()}],
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
