//! Shared helpers for the integration tests: finding the real tools they use, and the rule for
//! skipping when one is missing (never under CI, where scripts/test.sh installs them).
#![allow(dead_code)]

pub mod http;
pub mod stand_in_nginx;

use std::path::PathBuf;

/// True when a missing real part must fail the test instead of skipping it.
pub fn real_parts_required() -> bool {
    std::env::var("ONYX_REQUIRE_REAL").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skip (with a visible line) or fail, per [`real_parts_required`].
pub fn skip_or_fail(what: &str) {
    if real_parts_required() {
        panic!("{what} is required here (CI / ONYX_REQUIRE_REAL=1) but missing");
    }
    eprintln!("SKIPPED: {what} not available; run scripts/test.sh to install it");
}

/// The kubernetes-validate CLI: $ONYX_KUBERNETES_VALIDATE, or on PATH.
pub fn kubernetes_validate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ONYX_KUBERNETES_VALIDATE") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    which("kubernetes-validate")
}

/// A program on PATH (or in /usr/sbin, where Debian puts nginx).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
