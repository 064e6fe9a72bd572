//! Lead stages: `new → contacted → qualified → in_negotiation → prepayment → sold`, and
//! `lost` from any open stage.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    New,
    Contacted,
    Qualified,
    InNegotiation,
    Prepayment,
    Sold,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::New,
        Stage::Contacted,
        Stage::Qualified,
        Stage::InNegotiation,
        Stage::Prepayment,
        Stage::Sold,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::Qualified => "qualified",
            Stage::InNegotiation => "in_negotiation",
            Stage::Prepayment => "prepayment",
            Stage::Sold => "sold",
            Stage::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A human label for cards and buttons.
    pub fn label(self) -> &'static str {
        match self {
            Stage::New => "New",
            Stage::Contacted => "Contacted",
            Stage::Qualified => "Qualified",
            Stage::InNegotiation => "In negotiation",
            Stage::Prepayment => "Prepayment",
            Stage::Sold => "Sold",
            Stage::Lost => "Lost",
        }
    }

    /// One-character code used inside callback data.
    pub fn code(self) -> char {
        match self {
            Stage::New => 'n',
            Stage::Contacted => 'c',
            Stage::Qualified => 'q',
            Stage::InNegotiation => 'i',
            Stage::Prepayment => 'p',
            Stage::Sold => 's',
            Stage::Lost => 'l',
        }
    }

    pub fn from_code(c: char) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.code() == c)
    }

    /// Open leads are still being worked: everything but `sold` and `lost`.
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Sold | Stage::Lost)
    }

    /// Position on the pipeline; `lost` sits beside it, not on it.
    pub fn rank(self) -> Option<u8> {
        match self {
            Stage::New => Some(0),
            Stage::Contacted => Some(1),
            Stage::Qualified => Some(2),
            Stage::InNegotiation => Some(3),
            Stage::Prepayment => Some(4),
            Stage::Sold => Some(5),
            Stage::Lost => None,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip_and_are_unique() {
        let mut codes = std::collections::HashSet::new();
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
            assert_eq!(Stage::from_code(s.code()), Some(s));
            assert!(codes.insert(s.code()));
        }
        assert_eq!(Stage::parse("won"), None);
    }

    #[test]
    fn only_sold_and_lost_are_closed() {
        let closed: Vec<_> = Stage::ALL.into_iter().filter(|s| !s.is_open()).collect();
        assert_eq!(closed, vec![Stage::Sold, Stage::Lost]);
    }
}
