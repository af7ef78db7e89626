//! Exit statuses scripts can trust (DESIGN §7), with their precedence in one place.

/// 0 pass/warn, 1 hold, 2 usage/config/IO error (nothing evaluated), 3 incomplete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Clean,
    Hold,
    Usage,
    Incomplete,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Hold => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Incomplete => 3,
        }
    }

    fn rank(self) -> u8 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Incomplete => 1,
            ExitStatus::Hold => 2,
            ExitStatus::Usage => 3,
        }
    }

    /// Combine two statuses: usage beats hold, hold beats incomplete (a hold found among
    /// the readable inputs is the news), incomplete beats clean (never reads as clean).
    pub fn and(self, other: ExitStatus) -> ExitStatus {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus::*;

    #[test]
    fn precedence_is_usage_then_hold_then_incomplete() {
        assert_eq!(Clean.and(Incomplete), Incomplete);
        assert_eq!(Incomplete.and(Hold), Hold);
        assert_eq!(Hold.and(Incomplete), Hold);
        assert_eq!(Hold.and(Usage), Usage);
        assert_eq!(Usage.and(Clean), Usage);
        assert_eq!(Clean.and(Clean).code(), 0);
        assert_eq!([Clean, Hold, Usage, Incomplete].map(|s| s.code()), [0, 1, 2, 3]);
    }
}
