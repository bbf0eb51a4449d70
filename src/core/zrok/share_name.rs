//! [`ShareName`]: a chosen name for a persistent private share, checked before any request.

use std::fmt;

/// A chosen name for a persistent private share (the controller's `privateShareToken`).
///
/// zrok requires `^[a-z0-9-]{3,32}$`; names are global across the controller instance.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShareName(String);

/// A share name that does not satisfy `[a-z0-9-]{3,32}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid share name '{name}': {problem}; a share name is 3 to 32 characters from a-z, 0-9 and '-'")]
pub struct InvalidShareName {
    name: String,
    problem: String,
}

impl ShareName {
    const MIN_LEN: usize = 3;
    const MAX_LEN: usize = 32;

    /// Check a name before any request is made.
    pub fn parse(name: &str) -> Result<ShareName, InvalidShareName> {
        let shown: String = name.chars().take(40).collect();
        let bad = |problem: String| InvalidShareName {
            name: shown.clone(),
            problem,
        };
        let n = name.chars().count();
        if n < Self::MIN_LEN {
            return Err(bad(format!("too short ({n} characters)")));
        }
        if n > Self::MAX_LEN {
            return Err(bad(format!("too long ({n} characters)")));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(bad(format!("character {c:?} is not allowed")));
        }
        Ok(ShareName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ShareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareName({})",
            crate::core::redact::token_prefix(&self.0)
        )
    }
}

impl std::str::FromStr for ShareName {
    type Err = InvalidShareName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShareName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_names() {
        for ok in ["abc", "my-gateway", "a1-b2", &"x".repeat(32), "---"] {
            assert!(ShareName::parse(ok).is_ok(), "{ok}");
        }
        let e = ShareName::parse("ab").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid share name 'ab': too short (2 characters); a share name is 3 to 32 characters from a-z, 0-9 and '-'"
        );
        assert!(ShareName::parse(&"x".repeat(33))
            .unwrap_err()
            .to_string()
            .contains("too long (33 characters)"));
        assert!(ShareName::parse("My-gw")
            .unwrap_err()
            .to_string()
            .contains("character 'M' is not allowed"));
        assert!(ShareName::parse("my_gw").is_err());
        assert!(ShareName::parse("my gw").is_err());
        assert!(ShareName::parse("héllo").is_err());
        assert!("my-gw".parse::<ShareName>().is_ok());
    }
}
