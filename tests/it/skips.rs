//! The safety net's own count (issue #20, "skips must show"): a test that a gate skipped passes as
//! far as cargo knows, so `scripts/test.sh` moves every test recorded in `ONYX_TEST_SKIPS`
//! (tests/it/support/gate.rs) from "passed" to "skipped" in its closing line. These pin that the
//! count is exact — once per test however many parts it skipped, per test binary, a skipped test
//! that then failed stays failed — and, end to end on this very binary, that a real gate records
//! the test by the name cargo prints and fails instead under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// scripts/test.sh's closing line for a log and a skip file.
fn summary(log: &str, skips: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (l, s) = (dir.path().join("test.log"), dir.path().join("skips.tsv"));
    std::fs::write(&l, log).unwrap();
    std::fs::write(&s, skips).unwrap();
    let out = Command::new("bash")
        .arg(root().join("scripts/test.sh"))
        .arg("--summary")
        .arg(&l)
        .arg(&s)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_closing_line_moves_each_skipped_test_from_passed_to_skipped_once() {
    let log = "\
     Running unittests src/lib.rs (target/debug/deps/onyx-1111)
running 2 tests
test a::same_name ... ok
test a::plain ... ok
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/it/main.rs (/w/target/debug/deps/it-2222)
running 6 tests
test a::same_name ... ok
SKIPPED: gated::twice: no Docker engine
test gated::twice ... ok
test gated::then_failed ... FAILED
test ignored_one ... ignored
test plain ... ok
test gated::once ... ok
test result: FAILED. 4 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.00s
";
    // it's a::same_name skipped, onyx's did not; gated::twice skipped two parts; a record off a
    // test thread (`?`) matches nothing.
    let skips = "\
it-2222\ta::same_name\tno Docker engine
it-2222\tgated::twice\tno Docker engine
it-2222\tgated::twice\tno docker-registry
it-2222\tgated::then_failed\tno nginx
it-2222\tgated::once\tkubectl not available
it-2222\t?\toff a test thread
";
    let (line, err) = summary(log, skips);
    // passed 6 - 3 skipped; failed 1; skipped 1 ignored + 3.
    assert_eq!(line, "3 passed, 1 failed, 4 skipped\n", "{err}");
    assert!(
        err.contains("unmatched skip record: it-2222 ?"),
        "an unmatched record must be named: {err}"
    );
    // No skip file entries: cargo's own counts, ignored as skipped.
    let (line, _) = summary(log, "");
    assert_eq!(
        line,
        "6 passed, 1 failed, 1 ignored\n".replace("ignored", "skipped")
    );
}

/// Runs this test binary on `tests` with the validator out of reach, as scripts/test.sh's cargo
/// run would (skip file set), with `extra` env on top. Returns (status, log as cargo shows it,
/// skip file).
fn run_self(tests: &[&str], extra: &[(&str, &str)]) -> (bool, String, String) {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let skips = dir.path().join("skips.tsv");
    let mut cmd = Command::new(&exe);
    cmd.args(tests)
        .args(["--exact", "--test-threads=2"])
        .env_remove("CI")
        .env_remove("ONYX_REQUIRE_REAL")
        .env_remove("ONYX_REQUIRE_DOCKER")
        .env_remove("ONYX_KUBERNETES_VALIDATE")
        // support::which also looks in /usr/sbin and /sbin, where no validator is.
        .env("PATH", dir.path())
        .env("ONYX_TEST_SKIPS", &skips);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let log = format!(
        "     Running tests/it/main.rs ({})\n{}{}",
        exe.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = std::fs::read_to_string(&skips).unwrap_or_default();
    (out.status.success(), log, recorded)
}

const GATED: &str = "manifests::every_profile_validates_strictly_against_kubernetes_1_30_and_1_36";
const PLAIN: &str = "manifests::skipping_secrets_leaves_them_out";

#[test]
fn a_real_gate_records_its_test_by_the_name_cargo_prints_and_is_counted_skipped() {
    for p in ["/usr/sbin/kubernetes-validate", "/sbin/kubernetes-validate"] {
        assert!(!Path::new(p).exists(), "{p} would defeat the skip");
    }
    let (ok, log, recorded) = run_self(&[GATED, PLAIN], &[]);
    assert!(ok, "{log}");
    let exe = std::env::current_exe().unwrap();
    let bin = exe.file_name().unwrap().to_string_lossy();
    assert!(
        recorded.starts_with(&format!(
            "{bin}\t{GATED}\tkubernetes-validate (PyPI) not available"
        )),
        "{recorded}"
    );
    assert_eq!(recorded.lines().count(), 1, "{recorded}");
    assert!(
        log.contains(&format!("SKIPPED: {GATED}: kubernetes-validate")),
        "the skip shows in the run's output: {log}"
    );
    let (line, err) = summary(&log, &recorded);
    assert_eq!(line, "1 passed, 0 failed, 1 skipped\n", "{err}\n{log}");
}

#[test]
fn under_ci_the_same_gate_fails_and_records_nothing() {
    for env in [("CI", "true"), ("ONYX_REQUIRE_REAL", "1")] {
        let (ok, log, recorded) = run_self(&[GATED], &[env]);
        assert!(!ok, "{env:?}: a missing validator must fail: {log}");
        assert!(log.contains("is required here"), "{env:?}: {log}");
        assert_eq!(recorded, "", "{env:?}");
        let (line, _) = summary(&log, &recorded);
        assert_eq!(line, "0 passed, 1 failed, 0 skipped\n", "{env:?}\n{log}");
    }
}

/// One gate, held by a test rather than by prose: no test file reads `CI` / `ONYX_REQUIRE_*`
/// or writes a `SKIPPED` line itself (each such gate here skipped silently, or uncounted, before
/// they all went through tests/it/support/gate.rs), in onyx's tests or the simulator's.
#[test]
fn every_skip_goes_through_the_one_gate() {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("tests"), root().join("crates/k8s-sim/tests")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 20, "{files:?}");
    let gate = root().join("tests/it/support/gate.rs");
    let this = root().join("tests/it/skips.rs");
    let mut found = Vec::new();
    for f in files.iter().filter(|f| **f != gate && **f != this) {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("var(\"CI\")")
                || code.contains("var(\"ONYX_REQUIRE")
                || code.contains("\"SKIPPED")
            {
                found.push(format!("{}:{}: {line}", f.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "skip through tests/it/support/gate.rs:\n{}",
        found.join("\n")
    );
}

/// The bounded waits (tests/it/support/bounded.rs) end a hung process at the bound and fail with
/// a message, instead of hanging the run; also when the process exited but left one running
/// that holds its output open.
#[test]
fn a_hung_process_fails_its_test_at_the_bound() {
    use crate::support::bounded::Bounded;
    use std::time::{Duration, Instant};
    let panic_text = |f: &dyn Fn()| -> String {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let t = Instant::now();
    let msg = panic_text(&|| {
        let _ = Command::new("sleep")
            .arg("60")
            .output_within(Duration::from_secs(1));
    });
    assert!(msg.contains("did not finish within 1s (killed)"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let t = Instant::now();
    let msg = panic_text(&|| {
        let _ = Command::new("sh")
            // Lives past the 5 s the read is given, then ends by itself.
            .args(["-c", "sleep 9 & echo started"])
            .output_within(Duration::from_secs(1));
    });
    assert!(msg.contains("stayed open"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // And a prompt one is simply its output.
    let out = Command::new("sh")
        .args(["-c", "echo hi; echo err >&2; exit 3"])
        .output_within(Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        (out.status.code(), &out.stdout[..], &out.stderr[..]),
        (Some(3), &b"hi\n"[..], &b"err\n"[..])
    );
}
