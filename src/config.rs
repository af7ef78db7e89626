//! `mosaic.toml`: who is scanning. The `[org]` table names the reporting unit, its
//! classification authority (DM25 Art 11), its superior, contact and signer, as the
//! notices and the routing of holds need them.

use std::path::Path;

use serde::Deserialize;

use crate::rules::Level;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub org: Org,
    /// A holiday calendar (same form as `data/calendar-cn.toml`) added to the built-in
    /// one: later years, regional holidays, corrections. Relative to `mosaic.toml`.
    pub calendar: Option<std::path::PathBuf>,
    /// How `s3://` paths are reached (endpoint, region, timeouts, a kept cache).
    #[serde(default)]
    pub storage: crate::source::store::StorageConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// Reporting unit (报告单位), as it heads a notice.
    pub name: Option<String>,
    /// `central | provincial | prefecture | none` (DM25 Art 11).
    pub authority: Option<String>,
    /// Superior with classification authority, for Case 1 matters above ours.
    pub superior: Option<String>,
    /// Contact person and telephone for notices.
    pub contact: Option<String>,
    /// 签发人.
    pub signer: Option<String>,
    /// 发文机关代字 for 发文字号, e.g. `某数保`.
    pub doc_code: Option<String>,
}

impl Config {
    /// Read `mosaic.toml` from `dir` if present.
    pub fn load(dir: &Path) -> Result<Config, String> {
        let path = dir.join("mosaic.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

impl Config {
    /// The built-in calendar, extended by the configured one.
    pub fn calendar(&self, dir: &Path) -> Result<crate::calendar::Calendar, String> {
        let mut calendar = crate::calendar::Calendar::builtin();
        if let Some(file) = &self.calendar {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("calendar {}: {e}", path.display()))?;
            calendar.extend(
                crate::calendar::Calendar::parse(&text).map_err(|e| format!("calendar {}: {e}", path.display()))?,
            );
        }
        Ok(calendar)
    }
}

impl Org {
    /// The highest level this unit may determine itself (DM25 Art 11): central and
    /// provincial organs all, prefecture-level 机密 and 秘密, others none.
    pub fn max_level(&self) -> Option<Level> {
        match self.authority.as_deref().unwrap_or("none") {
            "central" | "provincial" => Some(Level::TopSecret),
            "prefecture" => Some(Level::Confidential),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self.authority.as_deref() {
            None | Some("central" | "provincial" | "prefecture" | "none") => Ok(()),
            Some(other) => Err(format!(
                "mosaic.toml [org] authority = `{other}`: expected central, provincial, prefecture or none"
            )),
        }
    }
}
