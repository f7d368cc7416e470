//! Waiting for a child process with a time limit. `Command::output` and `Child::wait` wait
//! forever: a regression that makes onyx (or a script) hang would hang the whole run, in CI
//! too, instead of failing the one test with what the process said. These kill the process at
//! the bound and fail the test, naming it (tests/it/skips.rs pins that they do).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// `child.wait()`, bounded: past `bound` the child is killed and the test fails naming `what`.
pub fn wait(child: &mut Child, bound: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {bound:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `child.wait_with_output()`, bounded as [`wait`]; the output read so far is in the failure. The
/// streams are bounded too: a grandchild that keeps the pipes open after the child exited would
/// otherwise block the read as surely as a hung child.
pub fn wait_with_output(mut child: Child, bound: Duration, what: &str) -> Output {
    fn drain(r: Option<impl Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let grace = Duration::from_secs(2);
            let (out, err) = (
                out.recv_timeout(grace).unwrap_or_default(),
                err.recv_timeout(grace).unwrap_or_default(),
            );
            panic!(
                "{what} did not finish within {bound:?} (killed)\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(5));
    let read = |rx: std::sync::mpsc::Receiver<Vec<u8>>, name: &str| {
        rx.recv_timeout(rest).unwrap_or_else(|_| {
            panic!("{what} exited ({status}) but its {name} stayed open for {rest:?} (a process it left running holds it)")
        })
    };
    Output {
        status,
        stdout: read(out, "stdout"),
        stderr: read(err, "stderr"),
    }
}

/// `cmd.output()`, bounded as [`wait`] (stdin closed, as `output` has it unless set).
pub fn output(cmd: &mut Command, bound: Duration, what: &str) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    wait_with_output(child, bound, what)
}

/// The bound for a command that should finish promptly (onyx against a stand-in, a local
/// script, psql): generous for a loaded 2-core machine, short against "forever".
pub const BOUND: Duration = Duration::from_secs(120);

/// The bounded forms as methods, so a call site reads as before: `.output()` becomes
/// `.output_within(BOUND)`, `child.wait()` `child.wait_within(BOUND)`.
pub trait Bounded {
    fn output_within(&mut self, bound: Duration) -> std::io::Result<Output>;
}

impl Bounded for Command {
    fn output_within(&mut self, bound: Duration) -> std::io::Result<Output> {
        let what = format!("{self:?}");
        // stdin closed as `output` has it (no caller here gives one).
        let child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(wait_with_output(child, bound, &what))
    }
}

pub trait BoundedChild {
    fn wait_within(&mut self, bound: Duration) -> std::io::Result<ExitStatus>;
    fn wait_with_output_within(self, bound: Duration) -> std::io::Result<Output>;
}

impl BoundedChild for Child {
    fn wait_within(&mut self, bound: Duration) -> std::io::Result<ExitStatus> {
        let what = format!("process {}", self.id());
        Ok(wait(self, bound, &what))
    }
    fn wait_with_output_within(self, bound: Duration) -> std::io::Result<Output> {
        let what = format!("process {}", self.id());
        Ok(wait_with_output(self, bound, &what))
    }
}
