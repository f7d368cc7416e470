//! The one rule for a missing real part: skip with a visible line, except where the run says
//! every part must be there (CI, where scripts/test.sh installs them, or `ONYX_REQUIRE_*`).
//! A file of its own so that a benchmark helper (examples/bench_node.rs) can take it with the
//! Docker parts without the rest of the test support.
//!
//! A skipped test still passes as far as cargo is concerned, so cargo's own summary can't say how
//! many tests did nothing. Every skip therefore goes through [`skipped`], which
//! - prints `SKIPPED: <test>: <why>` straight to stderr (the harness captures only the print
//!   macros, so the line shows even when the test passes), and
//! - when `ONYX_TEST_SKIPS` names a file (scripts/test.sh sets it), appends one line
//!   `<test binary>\t<test>\t<why>` to it. The script counts the distinct (binary, test) pairs of
//!   that file whose test passed and moves them from "passed" to "skipped" in its closing line. A
//!   file rather than the captured output: cargo shows a passing test's output only with
//!   `--nocapture`, which would interleave every test's prints, and a line written by one `write`
//!   to a file opened for appending can't be torn by another test's line.
//!
//! `<test>` is the name of the current thread: libtest runs every test on a thread named after the
//! test's path (`cluster_kind::data::volume_data_survives_delete_and_create`), the name it prints
//! in `test <name> ... ok`, and `#[tokio::test]` drives the test's body on that thread
//! (`Runtime::block_on`). A gate called from another thread has no test name; it is recorded as
//! `?`, which the script reports as an unmatched marker instead of miscounting silently.
//!
//! A test that skips any part of what it checks counts as skipped as a whole: "N passed" means N
//! tests did everything they check.

use std::io::Write;

/// The real part a test needs: Docker ones (the engine, docker-registry, busybox for the node
/// images) may also be required by `ONYX_REQUIRE_DOCKER=1`, every one by `CI=true` or
/// `ONYX_REQUIRE_REAL=1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Docker,
    Other,
}

/// True when a missing `part` must fail the test instead of skipping it.
pub fn required(part: Part) -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ONYX_REQUIRE_REAL").is_ok_and(|v| v == "1")
        || (part == Part::Docker && std::env::var("ONYX_REQUIRE_DOCKER").is_ok_and(|v| v == "1"))
}

/// True when a missing real part (not a Docker one) must fail the test.
pub fn real_parts_required() -> bool {
    required(Part::Other)
}

/// The running test's name (its libtest thread's name), or `?` off a test thread.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "?".to_string(),
    }
}

/// The test binary's file name (`it-0123abcd`), as cargo prints it in `Running … (…/it-0123abcd)`.
fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "?".to_string())
}

/// Say that the running test skipped (all or part of what it checks), visibly and countably (see
/// the module header). Callers decide first whether skipping is allowed ([`skip_or_fail_part`]).
pub fn skipped(text: &str) {
    let test = test_name();
    // One string, one write: a line is never torn by another test's.
    let why = text.replace(['\n', '\t'], " ");
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("ONYX_TEST_SKIPS") {
        let record = format!("{}\t{test}\t{why}\n", binary_name());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(record.as_bytes()));
        // The count is the point of the file: a marker that can't be written must not turn a skip
        // into a silent pass.
        if let Err(e) = written {
            panic!(
                "cannot record the skip of {test} in ONYX_TEST_SKIPS={}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// The one skip gate: fail when `part` is required here, else say SKIPPED and let the test return.
pub fn skip_or_fail_part(part: Part, what: &str) {
    if required(part) {
        panic!(
            "{what} is required here (CI / ONYX_REQUIRE_REAL=1 / ONYX_REQUIRE_DOCKER=1 for Docker parts) but missing"
        );
    }
    skipped(&format!(
        "{what} not available; run scripts/test.sh to install it"
    ));
}

/// Skip (with a visible line) or fail, for a part that is not Docker's.
pub fn skip_or_fail(what: &str) {
    skip_or_fail_part(Part::Other, what);
}

/// Skip (counted) or, under CI / `ONYX_REQUIRE_REAL=1`, fail: for a check that can't run because
/// of the machine's state rather than a missing part (an own cluster of the user's on this engine,
/// real images that must not be removed). `why` says what was found.
pub fn skip_unless_required(part: Part, why: &str) {
    if required(part) {
        panic!("{why}: nothing may be skipped here (CI / ONYX_REQUIRE_REAL=1)");
    }
    skipped(why);
}
