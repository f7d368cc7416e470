//! The one rule for a missing real part: skip with a visible line, except where the run says
//! every part must be there (CI, where scripts/test.sh installs them, or `ONYX_REQUIRE_*`).
//! A file of its own so that a benchmark helper (examples/bench_node.rs) can take it with the
//! Docker parts without the rest of the test support.

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

/// Say that a test skipped, visibly: straight to the stderr handle, which the test harness does not
/// capture (it captures only the print macros).
pub fn skipped(text: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {text}");
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
