//! The three access levels a filesystem rule can grant.

use std::fmt;

/// What a sandboxed command may do with a path and everything below it.
///
/// The variants are ordered from most to least restrictive, so `min` of two
/// accesses is the stricter one; resolution relies on that ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Neither readable nor writable: the path is masked.
    None,
    /// Readable, not writable.
    Read,
    /// Readable and writable.
    Write,
}

impl Access {
    /// The canonical spelling in `config.toml` (`deny`, `read`, `write`),
    /// Codex's.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "deny",
            Access::Read => "read",
            Access::Write => "write",
        }
    }

    /// Parses the `config.toml` spelling: `deny`, `read`, `write`, and
    /// `none`, Codex's older alias of `deny`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Access> {
        match text {
            "deny" | "none" => Some(Access::None),
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            _ => None,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_puts_the_strictest_first() {
        assert!(Access::None < Access::Read && Access::Read < Access::Write);
        assert_eq!(Access::Write.min(Access::None), Access::None);
    }

    #[test]
    fn parse_round_trips_and_rejects_other_spellings() {
        for access in [Access::None, Access::Read, Access::Write] {
            assert_eq!(Access::parse(access.as_str()), Some(access));
        }
        assert_eq!(Access::parse("none"), Some(Access::None));
        assert_eq!(Access::parse("rw"), None);
        assert_eq!(Access::parse("Read"), None);
    }
}
