//! Normal forms of place and facility names, and the names a scan matched fuzzily:
//! the leaf that rule packs (validating suffixes, holding a tag's matches) and
//! linkage (`link::names`) both build on.

use std::collections::HashMap;

/// Full-width to half-width, traditional to simplified, without spaces and punctuation.
pub fn normalise(text: &str) -> String {
    let half: String = text
        .chars()
        .filter_map(|c| {
            let c = match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' => ' ',
                c => c,
            };
            let drop = c.is_whitespace()
                || c.is_control()
                || c.is_ascii_punctuation()
                || matches!(c, '·' | '・' | '、' | '，' | '。' | '（' | '）' | '【' | '】' | '《' | '》' | '“' | '”');
            (!drop).then(|| c.to_ascii_lowercase())
        })
        .collect();
    if half.is_ascii() {
        half
    } else {
        fast2s::convert(&half)
    }
}

/// Names matched by a fuzzy name tag in one scan: each matched name's representative
/// (the smallest name of its group) and the scores of the matches between datasets.
#[derive(Clone, Debug, Default)]
pub struct Matched {
    pub representative: HashMap<String, String>,
    /// `(dataset a, dataset b, score)` of every match, by the datasets' places in the scan.
    pub matches: Vec<(usize, usize, f64)>,
}

impl Matched {
    /// The lowest score of a match between datasets of `members`, if any was used.
    pub fn lowest_among(&self, members: &[usize]) -> Option<f64> {
        self.matches.iter().filter(|(a, b, _)| members.contains(a) && members.contains(b)).map(|m| m.2).reduce(f64::min)
    }
}

/// A fuzzy name tag's matches, shared by the tag and the scan that sets them.
#[derive(Clone, Debug, Default)]
pub struct Aliases(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Matched>>>);

impl PartialEq for Aliases {
    fn eq(&self, _: &Self) -> bool {
        true // settings compare equal whatever a scan matched
    }
}

impl Aliases {
    pub fn set(&self, matched: Matched) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(matched);
    }

    pub fn get(&self) -> std::sync::Arc<Matched> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
