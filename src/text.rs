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

/// A connection error in plain words: what happened to the connection ("connection refused"),
/// found in the error's chain of causes, not the layers of the HTTP stack it passed through
/// (`ServiceError: client error (Connect)`, `Error in the hyper legacy client`, `os error 111`).
/// Without an I/O cause, the innermost cause's own words.
pub fn plain_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                ConnectionRefused => "connection refused".into(),
                ConnectionReset | ConnectionAborted => "the connection was cut".into(),
                TimedOut => "no answer in time".into(),
                NotFound => "no such socket or host".into(),
                PermissionDenied => "permission denied".into(),
                UnexpectedEof | BrokenPipe => "the connection closed early".into(),
                kind => kind.to_string(),
            };
        }
        innermost = err.to_string();
        source = err.source();
    }
    innermost
}

#[cfg(test)]
mod plain_error_tests {
    #[test]
    fn an_io_cause_is_said_in_plain_words() {
        #[derive(Debug)]
        struct Layer(std::io::Error);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("ServiceError: client error (Connect)")
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Layer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(super::plain_error(&e), "connection refused");
        let bare = std::fmt::Error;
        assert_eq!(super::plain_error(&bare), bare.to_string());
    }
}
