//! Opening the UI in the user's browser: `onyx open`, and `up` at its end unless `--no-browser`.
//!
//! Steps: the caller prints the URL on stdout first (scripts read it; it is the whole answer
//! where no browser can open); then [`decide`] picks how to open it from the environment (pure,
//! tested): `BROWSER` if set (the Unix convention: `:`-separated commands, `%s` for the URL),
//! also on an SSH session or without a display, since it is the user's explicit choice (a text
//! browser, a script that hands the URL to another machine);
//! otherwise nothing on an SSH session or a Linux/BSD session without a display; otherwise the
//! system's opener (the `open` crate: xdg-open, macOS `open`, Windows `start`).

use std::process::{Command, Stdio};

/// How the URL was (or wasn't) opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A browser was started by this command (from `BROWSER`, or the system's opener).
    Browser(String),
    /// No browser here; the URL was only printed. The reason says why.
    Headless(String),
    /// Starting a browser failed; the URL was printed.
    Failed(String),
}

/// What [`decide`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run these commands (argv each) in turn until one starts.
    BrowserEnv(Vec<Vec<String>>),
    /// The system's opener.
    System,
    /// Don't try; print only.
    Headless(String),
}

/// Choose how to open `url` on `os` (`std::env::consts::OS`) given environment lookups `env`.
pub fn decide(url: &str, os: &str, env: &dyn Fn(&str) -> Option<String>) -> Decision {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    if let Some(browser) = env("BROWSER").filter(|v| !v.trim().is_empty()) {
        let commands = browser_commands(&browser, url);
        if !commands.is_empty() {
            return Decision::BrowserEnv(commands);
        }
    }
    if set("SSH_CONNECTION") || set("SSH_TTY") || set("SSH_CLIENT") {
        return Decision::Headless("an SSH session".into());
    }
    let has_display = set("DISPLAY") || set("WAYLAND_DISPLAY");
    let needs_display = !matches!(os, "macos" | "windows" | "ios" | "android");
    if needs_display && !has_display {
        return Decision::Headless("no display (DISPLAY and WAYLAND_DISPLAY are unset)".into());
    }
    Decision::System
}

/// `BROWSER` → argv per command: `:`-separated; `%s` is the URL (`%%` a literal `%`); without
/// `%s` the URL is appended.
pub fn browser_commands(browser: &str, url: &str) -> Vec<Vec<String>> {
    browser
        .split(':')
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            let mut had_placeholder = false;
            let mut argv: Vec<String> = c
                .split_whitespace()
                .map(|word| {
                    if word.contains("%s") {
                        had_placeholder = true;
                    }
                    word.replace("%%", "\u{0}")
                        .replace("%s", url)
                        .replace('\u{0}', "%")
                })
                .collect();
            if !had_placeholder {
                argv.push(url.to_string());
            }
            argv
        })
        .collect()
}

/// Open `url` as [`decide`] says. Never fails: the caller has printed the URL already.
pub fn open_browser(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Opened {
    match decide(url, std::env::consts::OS, env) {
        Decision::Headless(reason) => Opened::Headless(reason),
        Decision::BrowserEnv(commands) => {
            let mut errors = Vec::new();
            for argv in commands {
                let Some((program, args)) = argv.split_first() else {
                    continue;
                };
                match Command::new(program)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                {
                    Ok(mut child) => {
                        // Browsers may run until closed: reap it in the background.
                        std::thread::spawn(move || child.wait());
                        return Opened::Browser(program.clone());
                    }
                    Err(e) => errors.push(format!("{program}: {e}")),
                }
            }
            Opened::Failed(format!("BROWSER: {}", errors.join("; ")))
        }
        Decision::System => match open::that_detached(url) {
            Ok(()) => Opened::Browser("the system's default browser".into()),
            Err(e) => Opened::Failed(e.to_string()),
        },
    }
}

/// The UI's URL for a port.
pub fn ui_url(port: u16) -> String {
    format!("http://localhost:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const URL: &str = "http://localhost:3000";

    #[test]
    fn browser_wins_even_without_a_display() {
        let d = decide(URL, "linux", &env(&[("BROWSER", "firefox")]));
        assert_eq!(
            d,
            Decision::BrowserEnv(vec![vec!["firefox".into(), URL.into()]])
        );
        let d = decide(
            URL,
            "linux",
            &env(&[("BROWSER", "w3m -dump %s:lynx"), ("SSH_TTY", "/dev/pts/1")]),
        );
        assert_eq!(
            d,
            Decision::BrowserEnv(vec![
                vec!["w3m".into(), "-dump".into(), URL.into()],
                vec!["lynx".into(), URL.into()],
            ])
        );
    }

    #[test]
    fn headless_when_no_display_or_over_ssh() {
        assert!(
            matches!(decide(URL, "linux", &env(&[])), Decision::Headless(r) if r.contains("DISPLAY"))
        );
        assert!(matches!(
            decide(URL, "freebsd", &env(&[])),
            Decision::Headless(_)
        ));
        assert_eq!(
            decide(URL, "linux", &env(&[("DISPLAY", ":0")])),
            Decision::System
        );
        assert_eq!(
            decide(URL, "linux", &env(&[("WAYLAND_DISPLAY", "wayland-0")])),
            Decision::System
        );
        // An empty BROWSER or DISPLAY counts as unset.
        assert!(matches!(
            decide(URL, "linux", &env(&[("DISPLAY", ""), ("BROWSER", " ")])),
            Decision::Headless(_)
        ));
        assert!(matches!(
            decide(URL, "linux", &env(&[("DISPLAY", ":0"), ("SSH_CONNECTION", "1 2 3 4")])),
            Decision::Headless(r) if r.contains("SSH")
        ));
        assert!(matches!(
            decide(URL, "macos", &env(&[("SSH_CLIENT", "1 2 3")])),
            Decision::Headless(_)
        ));
        // macOS and Windows have no DISPLAY and still open browsers.
        assert_eq!(decide(URL, "macos", &env(&[])), Decision::System);
        assert_eq!(decide(URL, "windows", &env(&[])), Decision::System);
    }

    #[test]
    fn browser_placeholders() {
        assert_eq!(
            browser_commands("open -a %s --x=100%%", URL),
            vec![vec![
                "open".to_string(),
                "-a".into(),
                URL.into(),
                "--x=100%".into()
            ]]
        );
        assert!(browser_commands(":: ", URL).is_empty());
    }

    #[test]
    fn a_missing_browser_is_a_failure_not_a_panic() {
        let opened = open_browser(URL, &env(&[("BROWSER", "/nonexistent/browser-xyz")]));
        assert!(
            matches!(&opened, Opened::Failed(e) if e.contains("/nonexistent/browser-xyz")),
            "{opened:?}"
        );
    }
}
