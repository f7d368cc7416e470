//! Small pure text helpers every layer uses in its messages (counts, shell-quoted words), kept
//! apart so a domain module can word a message without depending on the terminal layer.

/// `1 warning`, `2 warnings`, `0 warnings`.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A word as a POSIX shell reads it back: unchanged when it needs no quoting, else in single
/// quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,~".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
