//! Helpers that keep secrets out of logs and messages.

/// The first few characters of a token, enough to recognise it, never enough to use it.
pub(crate) fn token_prefix(token: &str) -> String {
    let n = token.chars().count();
    if n <= 4 {
        return "****".into();
    }
    let p: String = token.chars().take(4).collect();
    format!("{p}…")
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_hides_rest() {
        assert_eq!(super::token_prefix("abcdefghijkl"), "abcd…");
        assert_eq!(super::token_prefix("abc"), "****");
    }
}
