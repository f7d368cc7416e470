//! Hints that can be run as printed. A message may name an onyx command in backticks (`` `onyx up
//! --forward` ``); when the user pointed this run at a cluster with `--context`, `--kubeconfig` or
//! `-n`, the command must carry the same flags, or it would act on another cluster (onyx's own).
//! [`Invocation::complete`] adds them to every such command, for the subcommands that take them;
//! the library's messages stay free of that bookkeeping. Also the small wording helpers every
//! message uses: [`plural`] ("1 warning", "2 warnings") and [`shell_quote`] (paths as a shell
//! reads them, never Rust's double-quoted debug form).

use std::path::PathBuf;

/// The subcommands that take `--context`, `--kubeconfig` and `-n` (the day-2 commands and `up`).
const TARGETED: &[&str] = &[
    "up", "status", "logs", "restart", "down", "destroy", "doctor", "backup", "restore",
];

/// The cluster flags of one run, as given (flag or environment variable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub namespace: Option<String>,
}

impl Invocation {
    /// The flags to repeat, in the order `--context --kubeconfig -n`, each shell-quoted; those the
    /// command already has are left out.
    fn flags_missing_from(&self, command: &str) -> String {
        let has = |flag: &str| {
            command
                .split_whitespace()
                .any(|w| w == flag || w.starts_with(&format!("{flag}=")))
        };
        let mut out = String::new();
        if let Some(c) = &self.context
            && !has("--context")
        {
            out.push_str(&format!(" --context {}", shell_quote(c)));
        }
        if let Some(k) = &self.kubeconfig
            && !has("--kubeconfig")
        {
            out.push_str(&format!(
                " --kubeconfig {}",
                shell_quote(&k.display().to_string())
            ));
        }
        if let Some(n) = &self.namespace
            && !has("-n")
            && !has("--namespace")
        {
            out.push_str(&format!(" -n {}", shell_quote(n)));
        }
        out
    }

    /// `command` (an onyx command line without backticks) with this run's cluster flags added,
    /// when its subcommand takes them.
    pub fn command(&self, command: &str) -> String {
        let mut words = command.split_whitespace();
        let targeted =
            words.next() == Some("onyx") && words.next().is_some_and(|sub| TARGETED.contains(&sub));
        if targeted {
            format!("{command}{}", self.flags_missing_from(command))
        } else {
            command.to_string()
        }
    }

    /// `text` with every backticked onyx command completed by [`Invocation::command`].
    pub fn complete(&self, text: &str) -> String {
        if self == &Invocation::default() || !text.contains("`onyx ") {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + 64);
        let mut rest = text;
        while let Some(start) = rest.find('`') {
            let Some(len) = rest[start + 1..].find('`') else {
                break;
            };
            let span = &rest[start + 1..start + 1 + len];
            out.push_str(&rest[..=start]);
            out.push_str(&self.command(span));
            out.push('`');
            rest = &rest[start + len + 2..];
        }
        out.push_str(rest);
        out
    }
}

pub use crate::text::{plural, shell_quote};

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Invocation {
        Invocation {
            context: Some("sim".into()),
            kubeconfig: Some("/tmp/my dir/kubeconfig".into()),
            namespace: Some("onyx-test".into()),
        }
    }

    #[test]
    fn onyx_commands_repeat_the_cluster_flags() {
        assert_eq!(
            sim().complete("Reach it with `onyx up --forward`, or `onyx status`."),
            "Reach it with `onyx up --forward --context sim --kubeconfig '/tmp/my dir/kubeconfig' \
             -n onyx-test`, or `onyx status --context sim --kubeconfig '/tmp/my dir/kubeconfig' \
             -n onyx-test`."
        );
        // Flags already there are not doubled; commands without cluster flags stay as they are.
        let only_ctx = Invocation {
            context: Some("sim".into()),
            ..Invocation::default()
        };
        assert_eq!(
            only_ctx.complete("`onyx logs vespa --context sim` or `onyx plan` or `kubectl get ns`"),
            "`onyx logs vespa --context sim` or `onyx plan` or `kubectl get ns`"
        );
        assert_eq!(
            only_ctx.complete("`onyx cluster delete` then `onyx up`"),
            "`onyx cluster delete` then `onyx up --context sim`"
        );
        // No flags given: the text is unchanged; an unmatched backtick is left alone.
        assert_eq!(
            Invocation::default().complete("`onyx up` again"),
            "`onyx up` again"
        );
        assert_eq!(only_ctx.complete("a ` b `onyx up"), "a ` b `onyx up");
    }

    #[test]
    fn words() {
        assert_eq!(plural(1u32, "warning", "warnings"), "1 warning");
        assert_eq!(plural(0u32, "warning", "warnings"), "0 warnings");
        assert_eq!(plural(4u32, "CPU", "CPUs"), "4 CPUs");
        assert_eq!(shell_quote("/home/u/.kube/config"), "/home/u/.kube/config");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
