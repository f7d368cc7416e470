//! What kind of failure an error is, and the exit code each kind gets: every domain error says
//! its own [`Class`] next to its hint (cargo `util/errors.rs`, uv `ExitStatus`), and the
//! top-level error only delegates. A leaf module, so a domain can name its class without
//! depending on the top-level error.

/// Exit code for bad input: flags, config, files the user gave us (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the environment can't run the stack (too little memory, ...).
pub const EXIT_REFUSED: u8 = 3;
/// Exit code when the stack did not come up (a diagnosis was printed), or is not installed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code for an unexpected internal failure (a bug, or an I/O error we didn't foresee).
pub const EXIT_INTERNAL: u8 = 70;

/// The kind of a failure, which decides the exit code (README's exit-code table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The user's input can't be used: fix it and run again.
    Usage,
    /// The machine, the network or the cluster can't do what was asked.
    Refused,
    /// The stack did not come up, or a job onyx ran failed.
    Failed,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// Unexpected: a bug, or an I/O error nobody foresaw.
    Internal,
}

impl Class {
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Usage => EXIT_USAGE,
            Class::Refused => EXIT_REFUSED,
            Class::Failed => EXIT_FAILED,
            Class::Interrupted => EXIT_INTERRUPTED,
            Class::Internal => EXIT_INTERNAL,
        }
    }
}
