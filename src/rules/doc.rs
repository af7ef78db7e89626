//! `mosaic rules doc`: the reference of the packs in use as Markdown. The bundled
//! packs' reference is committed as `docs/rules.md`; a test fails when it is stale.

use std::fmt::Write;

use super::{Catalog, Pack, TagKind, Track};

fn tag_columns(kind: TagKind, columns: &[String], columns2: &[String]) -> String {
    let list = |c: &[String]| c.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    match kind {
        TagKind::Point => format!("lat: {}; lon: {}", list(columns), list(columns2)),
        TagKind::Xy => format!("y: {}; x: {}", list(columns), list(columns2)),
        _ => list(columns),
    }
}

fn pack(out: &mut String, pack: &Pack) {
    let _ = writeln!(out, "## `{}` — {} ({})\n", pack.id, pack.name, pack.version);
    let _ = writeln!(out, "- authority: {}", pack.authority);
    if !pack.co_authorities.is_empty() {
        let _ = writeln!(out, "- with: {}", pack.co_authorities.join(", "));
    }
    if pack.items.iter().any(|i| i.track == Track::ImportantData) {
        let _ = writeln!(out, "- data-security authority: {}", pack.data_security_authority);
    }
    let _ = writeln!(out, "- basis: {}", pack.basis.join("; "));
    let _ = writeln!(
        out,
        "- thresholds: {}",
        if pack.illustrative { "illustrative (no published catalog)" } else { "from published rules" }
    );
    let _ = writeln!(out, "- coverage grid: {} m; near-miss warning at {:.0} %", pack.grid_m, pack.warn_at * 100.0);
    let _ = writeln!(out, "- source: `{}`\n", pack.source);
    let _ = writeln!(out, "| tag | kind | columns |\n|---|---|---|");
    for tag in pack.tags.values() {
        let mut columns = tag_columns(tag.kind, &tag.columns, &tag.columns2);
        if let Some(p) = &tag.pattern {
            let _ = write!(columns, "; pattern `{}`", p.as_str().replace('|', "\\|"));
        }
        if !tag.link.parent.is_empty() {
            let _ = write!(columns, "; parent from {}", tag.link.parent.join(", "));
        }
        if !tag.link.strip_suffixes.is_empty() {
            let _ = write!(columns, "; compared without {}", tag.link.strip_suffixes.join(", "));
        }
        if let Some(score) = tag.link.min_score {
            let _ = write!(columns, "; fuzzy (Jaro–Winkler ≥ {score})");
        }
        if let Some(m) = tag.link.within_m {
            let _ = write!(columns, "; links within {m} m");
        }
        let unit = tag.unit.as_ref().map(|u| format!(" ({u})")).unwrap_or_default();
        let label = tag.label.as_ref().map(|l| format!(" {l}")).unwrap_or_default();
        let _ = writeln!(out, "| `{}`{label} | {}{unit} | {columns} |", tag.name, tag.kind.name());
    }
    out.push('\n');
    for item in &pack.items {
        let _ = writeln!(out, "### `{}`\n\n{}\n", item.id, item.name);
        if item.zh.name != item.name {
            let _ = writeln!(out, "{}\n", item.zh.name);
        }
        match item.track {
            Track::ImportantData => {
                let _ =
                    writeln!(out, "- track: important data → {} (never a secret mark)", pack.data_security_authority);
            }
            Track::StateSecret => {
                let case = if item.catalog_match {
                    "catalog match (DM25 Art 35 ¶1): the item's mark"
                } else {
                    "no catalog item (DM25 Art 35, Case 2): 待定密（先行保密）, report"
                };
                let _ = writeln!(out, "- outcome: {case} to {}", pack.authority);
            }
        }
        if let (Some(level), Some(period)) = (item.level, &item.period) {
            let _ = writeln!(out, "- level: {level}, period {}", period.label());
        }
        let _ = writeln!(out, "- deadline: {} working days", item.deadline_working_days);
        if !item.knowledge_scope.is_empty() {
            let _ = writeln!(out, "- knowledge scope: {}", item.knowledge_scope);
        }
        if !item.art13.is_empty() {
            let _ = writeln!(out, "- field (Law Art 13): {}", item.art13);
        }
        let _ = writeln!(out, "- harm: {}", item.harm);
        if item.zh.harm != item.harm {
            let _ = writeln!(out, "- 危害: {}", item.zh.harm);
        }
        if !item.basis.is_empty() {
            let _ = writeln!(out, "- item basis: {}", item.basis.join("; "));
        }
        if !item.filters.is_empty() {
            let rows: Vec<String> = item.filters.iter().map(|f| format!("`{f}`")).collect();
            let _ = writeln!(out, "- rows: where {}", rows.join(" and "));
        }
        let _ = writeln!(out, "- thresholds, all of:");
        for c in &item.criteria {
            let _ = writeln!(out, "  - `{c}`");
        }
        let _ = writeln!(out, "- remediation: {}", item.remediation);
        if item.zh.remediation != item.remediation {
            let _ = writeln!(out, "- 处理方式: {}", item.zh.remediation);
        }
        out.push('\n');
    }
}

/// The Markdown reference of every pack in the catalog.
pub fn markdown(catalog: &Catalog) -> String {
    let mut out = String::from(
        "# Rule packs\n\n\
         Generated by `mosaic rules doc` from the packs in `rules/`; do not edit by hand\n\
         (`cargo run -- rules doc > docs/rules.md`). Thresholds marked illustrative are\n\
         examples built on public anchors (LAW.md §3), not a published catalog.\n\n",
    );
    for p in &catalog.packs {
        let n = p.items.len();
        let _ =
            writeln!(out, "- [`{}`](#{}) — {} ({n} item{})", p.id, anchor(p), p.name, if n == 1 { "" } else { "s" });
    }
    out.push('\n');
    for p in &catalog.packs {
        pack(&mut out, p);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// GitHub's heading anchor for a pack heading.
fn anchor(p: &Pack) -> String {
    format!("{} — {} ({})", p.id, p.name, p.version)
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}
