//! Working-day deadlines (Reg 25: report within 10 working days) over a holiday
//! calendar: weekends, public holidays and adjusted working days (调休).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The official calendar shipped with mosaic.
pub const BUILTIN: &str = include_str!("../data/calendar-cn.toml");

#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
    working: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Year {
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    working: Vec<NaiveDate>,
}

impl Calendar {
    /// Parse a calendar file: `[YEAR] holidays = [...], working = [...]`.
    pub fn parse(text: &str) -> Result<Calendar, String> {
        let years: BTreeMap<String, Year> = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut cal = Calendar::default();
        for year in years.into_values() {
            cal.holidays.extend(year.holidays);
            cal.working.extend(year.working);
        }
        Ok(cal)
    }

    pub fn builtin() -> Calendar {
        Calendar::parse(BUILTIN).unwrap_or_default()
    }

    /// Add another calendar's days (a configured file extends the built-in one).
    pub fn extend(&mut self, other: Calendar) {
        self.holidays.extend(other.holidays);
        self.working.extend(other.working);
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working.contains(&day) {
            return true;
        }
        !self.holidays.contains(&day) && !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The date `n` working days after `from` (the day of `from` itself not counted).
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day = day.checked_add_days(Days::new(1)).unwrap_or(day);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weekends_and_holidays_are_skipped() {
        let cal = Calendar::builtin();
        // Monday 2026-11-23 + 10 working days = Monday 2026-12-07.
        assert_eq!(cal.add_working_days(d("2026-11-23"), 10), d("2026-12-07"));
        // National Day week: 2026-09-30 (Wed) + 1 → 2026-10-08 (Thu), skipping Oct 1–7.
        assert_eq!(cal.add_working_days(d("2026-09-30"), 1), d("2026-10-08"));
        // Adjusted working Saturday 2026-10-10 counts.
        assert!(cal.is_working_day(d("2026-10-10")));
        assert!(!cal.is_working_day(d("2026-02-16")));
        // Spring Festival: Friday 2026-02-13 + 1 → Saturday 2026-02-14 (调休 working day).
        assert_eq!(cal.add_working_days(d("2026-02-13"), 1), d("2026-02-14"));
        assert_eq!(cal.add_working_days(d("2026-02-14"), 1), d("2026-02-24"));
    }
}
