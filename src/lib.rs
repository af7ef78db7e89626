//! mosaic finds the mosaic effect: datasets harmless one by one that, aggregated or
//! linked, reach a precision or scale that secrecy law treats as a state secret
//! (国家秘密定密管理规定 Art 35). The flow, one module per step:
//!
//! `rules` → `source` → `tag` → `profile` → `link` → `evaluate` → `decide` →
//! `remedy` → `report`, orchestrated by `scan`; `cli` is the command line over it.

pub mod alloc;
pub mod assess;
pub mod calendar;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crs;
pub mod decide;
pub mod decimals;
pub mod evaluate;
pub mod exit;
pub mod incremental;
pub mod ledger;
pub mod link;
pub mod normal;
pub mod notice;
pub mod par;
pub mod profile;
pub mod progress;
pub mod remedy;
pub mod report;
pub mod rules;
pub mod scan;
pub mod source;
pub mod tag;
pub mod trace;
