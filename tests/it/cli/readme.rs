//! README's tables held to the binary: every environment variable and the profile numbers, the
//! command table against `--help`, the settings table against flags, variables and config keys,
//! and the exit-code table against what the binary exits with.

use super::*;

#[test]
fn readme_documents_every_environment_variable_and_profile_numbers() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (var, _) in onyx::env_vars::ALL {
        assert!(
            readme.contains(&format!("`{var}`")),
            "README doesn't mention {var}"
        );
    }
    // The profile table's request figures are the rendered ones.
    for name in ["small", "medium", "large"] {
        let r = onyx(&[
            "plan",
            "--profile",
            name,
            "--memory",
            "64GiB",
            "--cpus",
            "16",
            "-o",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let t = &v["totals"];
        let row = format!(
            "| {:.1} GiB / {:.1} CPU | {:.1} GiB |",
            t["memory_request_mib"].as_f64().unwrap() / 1024.0,
            t["cpu_request_m"].as_f64().unwrap() / 1000.0,
            t["memory_limit_mib"].as_f64().unwrap() / 1024.0,
        );
        assert!(
            readme.contains(&row),
            "README's {name} row should read {row}"
        );
    }
}

/// The rows of the first Markdown table after `heading_line` in README (cells trimmed; header
/// and separator rows left out).
fn readme_table(readme: &str, after: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(after)
        .unwrap_or_else(|| panic!("README lacks {after:?}"));
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            // `\|` inside a cell is a literal bar.
            l.replace("\\|", "\u{0}")
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// The backticked spans of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// README's command table against the binary: every command it lists exists, with every flag it
/// shows (and every value it names for a choice); every command the binary has is listed.
#[test]
fn readme_command_table_matches_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "## Commands");
    assert!(rows.len() >= 20, "{rows:?}");
    let mut listed: Vec<String> = Vec::new();
    for row in &rows {
        for span in spans(&row[0]).iter().filter(|s| s.starts_with("onyx ")) {
            let words: Vec<&str> = span.split_whitespace().skip(1).collect();
            // The command path: the leading lowercase words (not flags, values or [options]).
            let path: Vec<&str> = words
                .iter()
                .take_while(|w| {
                    w.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '|')
                        && !w.starts_with('-')
                })
                .copied()
                .collect();
            // `completions bash|zsh|…`: the shells are values, each must be accepted.
            let (path, choices): (Vec<&str>, Vec<&str>) = match path.as_slice() {
                [cmd, values] if values.contains('|') => (vec![*cmd], values.split('|').collect()),
                p => (p.to_vec(), Vec::new()),
            };
            listed.push(path.join(" "));
            let mut args = path.clone();
            args.push("--help");
            let help = onyx(&args);
            assert_eq!(help.code, 0, "{span}: {}", help.stderr);
            for w in &words[path.len()..] {
                let flag = w.trim_matches(|c| c == '[' || c == ']');
                let Some(flag) = flag.strip_prefix('-') else {
                    continue;
                };
                let shown = if let Some(long) = flag.strip_prefix('-') {
                    format!("--{}", long.split('=').next().unwrap())
                } else {
                    format!("-{},", &flag[..1])
                };
                assert!(
                    help.stdout.contains(&shown),
                    "README shows {shown} for `{span}`, `onyx {} --help` lacks it",
                    path.join(" ")
                );
            }
            for shell in choices {
                let r = onyx(&[path[0], shell]);
                assert_eq!(r.code, 0, "`onyx {} {shell}`: {}", path[0], r.stderr);
            }
            // `-o yaml|json`, `-o text|json`: each value is one the flag takes.
            for pair in words.windows(2) {
                if pair[0].trim_start_matches('[') == "-o" && pair[1].contains('|') {
                    for v in pair[1].trim_end_matches(']').split('|') {
                        assert!(
                            help.stdout
                                .lines()
                                .any(|l| l.contains("possible values:")
                                    && l.contains(&format!(" {v}"))),
                            "`{span}`: -o {v} not in the help"
                        );
                    }
                }
            }
        }
    }
    // Every visible command of the binary is in the table.
    let top = onyx(&["--help"]);
    let commands = top
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            (!l.starts_with(' ')).then(|| l.split_whitespace().next().unwrap().to_string())
        })
        .filter(|c| c != "help")
        .collect::<Vec<_>>();
    assert!(commands.len() >= 15, "{commands:?}");
    for c in commands {
        assert!(
            listed
                .iter()
                .any(|l| l == &c || l.starts_with(&format!("{c} "))),
            "`onyx {c}` is not in README's command table ({listed:?})"
        );
    }
}

/// README's settings table against the binary: each variable is one onyx declares; each flag
/// exists and reads that variable (clap's `[env: …]`) on the commands it belongs to; config keys
/// are accepted in a config file, and a setting with no key ("—") is refused there.
#[test]
fn readme_settings_table_matches_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "## Settings");
    assert!(rows.len() >= 10, "{rows:?}");
    let declared: Vec<&str> = onyx::env_vars::ALL.iter().map(|(v, _)| *v).collect();
    // Where each flag lives (a command whose help must show it).
    let command_of = |flag: &str| -> Vec<&'static str> {
        match flag {
            "--data-dir" => vec!["up", "cluster create"],
            "--context" | "--kubeconfig" => vec!["up", "status"],
            "--registry-mirror" => vec!["up", "images pull"],
            "--profile" | "--indexing" => vec!["up", "render", "plan"],
            "--port" => vec!["up", "open", "status"],
            "-n/--namespace" => vec!["up", "render", "status"],
            _ => vec!["render"],
        }
    };
    let mut seen_vars = 0;
    for row in &rows {
        let (flag_cell, env_cell, key_cell) = (&row[1], &row[2], &row[3]);
        let vars = spans(env_cell);
        for v in &vars {
            assert!(
                declared.contains(&v.as_str()) || v == "KUBECONFIG",
                "README's settings list {v}, which onyx does not declare"
            );
            seen_vars += 1;
        }
        for flag in spans(flag_cell) {
            for cmd in command_of(&flag) {
                let mut args: Vec<&str> = cmd.split(' ').collect();
                args.push("--help");
                let help = onyx(&args).stdout;
                let long = flag.rsplit('/').next().unwrap();
                // The option's own line: `      --context <NAME>` or `  -n, --namespace <NS>`.
                let mut offset = 0;
                let mut at = None;
                for line in help.split_inclusive('\n') {
                    let t = line.trim_start();
                    let t = t.split_once(", ").map_or(
                        t,
                        |(short, rest)| {
                            if short.len() == 2 { rest } else { t }
                        },
                    );
                    if t.starts_with(&format!("{long} ")) || t.trim_end() == long {
                        at = Some(offset);
                        break;
                    }
                    offset += line.len();
                }
                let at = at.unwrap_or_else(|| panic!("`onyx {cmd}` has no {long}"));
                let paragraphs: Vec<&str> = help[at..].split("\n\n").collect();
                let next = paragraphs[1..]
                    .iter()
                    .position(|p| p.trim_start().starts_with('-'))
                    .map_or(paragraphs.len(), |i| i + 1);
                let entry = paragraphs[..next].join("\n\n");
                if let Some(v) = vars.iter().find(|v| v.starts_with("ONYX_")) {
                    assert!(
                        entry.contains(&format!("[env: {v}=")),
                        "`onyx {cmd}` {long} does not read {v}:\n{entry}"
                    );
                }
            }
        }
        // Config keys: accepted with a sample value; "—" keys are not config keys.
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/onyx");
        std::fs::create_dir_all(&dir).unwrap();
        let keys = spans(key_cell);
        let sample = |k: &str| match k {
            "profile" => "\"small\"",
            "namespace" => "\"onyx\"",
            "port" => "4000",
            "context" => "\"kind-onyx\"",
            "kubeconfig" => "\"/nonexistent/kubeconfig\"",
            other => panic!("README lists config key {other}; give it a sample here"),
        };
        for k in &keys {
            std::fs::write(dir.join("config.toml"), format!("{k} = {}\n", sample(k))).unwrap();
            let r = onyx_in(
                home.path(),
                &["plan", "--memory", "8GiB", "--cpus", "4"],
                &[],
            );
            assert_eq!(r.code, 0, "config key {k}: {}", r.stderr);
        }
        if key_cell == "—"
            && let Some(flag) = spans(flag_cell).first()
        {
            let key = flag.trim_start_matches('-').replace('-', "_");
            std::fs::write(dir.join("config.toml"), format!("{key} = \"x\"\n")).unwrap();
            let r = onyx_in(
                home.path(),
                &["plan", "--memory", "8GiB", "--cpus", "4"],
                &[],
            );
            assert_eq!(
                r.code, 2,
                "{key} is \"—\" in README but accepted: {}",
                r.stderr
            );
        }
    }
    assert!(seen_vars >= 12, "{seen_vars}");
    // And every variable onyx declares is in the table.
    let table_vars: Vec<String> = rows.iter().flat_map(|r| spans(&r[2])).collect();
    for v in declared {
        assert!(
            table_vars.iter().any(|t| t == v),
            "{v} is not in README's settings table"
        );
    }
}

/// README's exit-code table is the binary's: the same codes as the constants, and a case of each
/// that runs here gives it.
#[test]
fn readme_exit_code_table_matches_the_binary() {
    use onyx::error::{EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rows = readme_table(&readme, "Exit codes:");
    let codes: Vec<u8> = rows
        .iter()
        .map(|r| r[0].trim_matches('`').parse().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            0,
            EXIT_FAILED,
            EXIT_USAGE,
            EXIT_REFUSED,
            EXIT_INTERNAL,
            EXIT_INTERRUPTED
        ]
    );
    let meaning = |code: u8| &rows[codes.iter().position(|c| *c == code).unwrap()][1];
    assert!(meaning(EXIT_USAGE).contains("bad input"));
    assert!(meaning(EXIT_REFUSED).contains("can't do it"));
    assert!(meaning(EXIT_INTERRUPTED).contains("Ctrl-C"));
    // Bad input: a flag, a config value → 2.
    assert_eq!(onyx(&["plan", "-o", "xml"]).code, i32::from(EXIT_USAGE));
    assert_eq!(
        onyx(&["render", "-n", "Bad_NS"]).code,
        i32::from(EXIT_USAGE)
    );
    // The machine can't: no Docker engine → 3; the releases API unreachable for `self update` → 3.
    let home0 = tempfile::tempdir().unwrap();
    assert_eq!(
        onyx_in(
            home0.path(),
            &["up", "--no-browser"],
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]
        )
        .code,
        i32::from(EXIT_REFUSED)
    );
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let home = tempfile::tempdir().unwrap();
    let r = onyx_in(
        home.path(),
        &["self", "update", "--check"],
        &[("ONYX_UPDATE_ROOT", &dead)],
    );
    assert_eq!(r.code, i32::from(EXIT_REFUSED), "{}", r.stderr);
    // A cluster that does not answer → 3.
    let kubeconfig = dead_kubeconfig(home.path());
    let r = onyx_in(
        home.path(),
        &[
            "status",
            "--context",
            "sim",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, i32::from(EXIT_REFUSED), "{}", r.stderr);
    // A UI port already in use → 2, before anything else is tried.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = onyx_in(
        home.path(),
        &[
            "up",
            "--profile",
            "small",
            "--force",
            "--forward",
            "--port",
            &port,
            "--context",
            "sim",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, i32::from(EXIT_USAGE), "{}", r.stderr);
}
