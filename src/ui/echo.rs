//! The terminal's echo of control characters, off while live lines are drawn.
//!
//! With `ECHOCTL` on (the default of Linux and macOS terminals), Ctrl-C makes the terminal itself
//! print `^C` at the cursor before onyx even sees the signal; a full-width last line then wraps,
//! the cursor is no longer where indicatif believes, and its next redraw (a spinner's tick comes
//! every 120 ms, and on a loaded machine it comes before the wait is dropped) wipes the lines
//! above and draws one twice. Clearing `ECHOCTL` on the terminal of stdin for as long as the lines
//! are live keeps the cursor where indicatif left it; the setting is restored on drop (Ctrl-C
//! included: the wait is dropped, not killed). termios(3) `ECHOCTL`.

/// Restores the terminal's `ECHOCTL` on drop; does nothing where stdin is not a terminal.
pub struct EchoCtlOff {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl EchoCtlOff {
    pub fn new() -> EchoCtlOff {
        #[cfg(unix)]
        {
            // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed termios they fill in; a failure
            // (not a terminal) leaves everything as it was.
            unsafe {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::isatty(0) == 1
                    && libc::tcgetattr(0, &mut t) == 0
                    && t.c_lflag & libc::ECHOCTL != 0
                {
                    let saved = t;
                    t.c_lflag &= !libc::ECHOCTL;
                    if libc::tcsetattr(0, libc::TCSANOW, &t) == 0 {
                        return EchoCtlOff { saved: Some(saved) };
                    }
                }
            }
            EchoCtlOff { saved: None }
        }
        #[cfg(not(unix))]
        EchoCtlOff {}
    }
}

impl Default for EchoCtlOff {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for EchoCtlOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            // SAFETY: restores what tcgetattr returned for the same fd.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
            }
        }
    }
}
