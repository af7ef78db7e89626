//! JUnit XML for CI systems: a test suite per pack, a test case per item per dataset
//! (and per combination that gave a finding). A hold is a failure, an input that
//! could not be read is an error, a warning passes with its evidence in the output.

use std::fmt::Write;

use super::html_escape as x;
use crate::rules::Catalog;
use crate::scan::ScanResult;

struct Case {
    name: String,
    class: String,
    body: String,
    failed: bool,
}

/// A metric value as text (`n/a` when undefined).
pub fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| v.to_string())
}

pub fn render(result: &ScanResult, catalog: &Catalog) -> String {
    let mut suites = String::new();
    let (mut total, mut failures) = (0, 0);
    for pack in &catalog.packs {
        let mut cases: Vec<Case> = Vec::new();
        for f in result.findings.iter().filter(|f| f.pack == pack.id) {
            let evidence: Vec<String> = f
                .evidence
                .iter()
                .map(|e| format!("{}: {} ({})", e.condition, value(e.value), if e.holds { "met" } else { "not met" }))
                .collect();
            let what = format!("{}: {} — {}\n{}", f.outcome.name(), f.item, f.item_name, evidence.join("\n"));
            let body = if f.holds() {
                format!(
                    "<failure type=\"{}\" message=\"{}\">{}</failure>",
                    x(f.outcome.name()),
                    x(&f.item_name),
                    x(&what)
                )
            } else {
                format!("<system-out>{}</system-out>", x(&what))
            };
            cases.push(Case { name: f.datasets.join(" + "), class: f.item.clone(), body, failed: f.holds() });
        }
        for item in &pack.items {
            for input in &result.inputs {
                let found = result.findings.iter().any(|f| f.item == item.id && f.datasets == [input.id.clone()]);
                if !found {
                    cases.push(Case {
                        name: input.id.clone(),
                        class: item.id.clone(),
                        body: String::new(),
                        failed: false,
                    });
                }
            }
        }
        cases.sort_by(|a, b| (&a.class, &a.name).cmp(&(&b.class, &b.name)));
        let failed = cases.iter().filter(|c| c.failed).count();
        total += cases.len();
        failures += failed;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
            x(&pack.id),
            cases.len()
        );
        for c in cases {
            let _ = writeln!(
                suites,
                "    <testcase classname=\"{}\" name=\"{}\">{}</testcase>",
                x(&c.class),
                x(&c.name),
                c.body
            );
        }
        suites.push_str("  </testsuite>\n");
    }
    let errors = result.errors.len();
    if errors > 0 {
        total += errors;
        let _ = writeln!(suites, "  <testsuite name=\"inputs\" tests=\"{errors}\" failures=\"0\" errors=\"{errors}\">");
        for e in &result.errors {
            let _ = writeln!(
                suites,
                "    <testcase classname=\"read\" name=\"{}\"><error type=\"{}\" message=\"{}\"/></testcase>",
                x(&e.input),
                x(&e.kind),
                x(&e.message)
            );
        }
        suites.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mosaic\" tests=\"{total}\" failures=\"{failures}\" errors=\"{errors}\">\n{suites}</testsuites>\n"
    )
}
