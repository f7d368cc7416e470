//! The terminal: the only place that writes to it. Data goes to stdout; messages, warnings and
//! hints go to stderr, coloured only when allowed (`--no-color`, `NO_COLOR`, not a terminal).

use std::io::{IsTerminal, Write};

use crate::settings::{Settings, Verbosity};

/// Writes data and messages the way the settings say.
#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: Verbosity,
    color: bool,
}

const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn new(settings: &Settings) -> Printer {
        Printer {
            verbosity: settings.verbosity,
            color: settings.color && std::io::stderr().is_terminal(),
        }
    }

    /// For errors printed before settings exist (bad flags, bad config).
    pub fn plain(color_allowed: bool) -> Printer {
        Printer {
            verbosity: Verbosity::Normal,
            color: color_allowed && std::io::stderr().is_terminal(),
        }
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// Data for scripts and pipes: stdout, always.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// A progress or status line (hidden with --quiet).
    pub fn info(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        if self.verbosity > Verbosity::Quiet {
            eprintln!("{} {text}", self.paint(YELLOW, "warning:"));
        }
    }

    /// An error and what to do about it (always shown).
    pub fn error(&self, text: &str, hint: Option<&str>) {
        eprintln!("{} {text}", self.paint(&format!("{BOLD}{RED}"), "error:"));
        if let Some(hint) = hint {
            eprintln!("{} {hint}", self.paint(CYAN, "hint:"));
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }
}
