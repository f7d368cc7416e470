//! The one tokio runtime of a run and the one way Ctrl-C stops work.
//!
//! `commands::run` makes one [`Runtime`] per invocation and hands it to the command; the tokio
//! runtime inside is built the first time a command needs it, so `onyx version`, `completions`
//! and `man` never pay for it (`onyx --version` is answered by clap before any of this).
//!
//! Ctrl-C reaches work in exactly one place, [`Runtime::interruptible`]: the work's futures are
//! dropped (which closes the engine and API connections: the engine then stops the pull or load
//! it was doing for us) and the run ends with [`Error::Interrupted`], whose hint names the
//! command to run again. Work that must clean up after itself (the half-made node of `cluster
//! create`) matches that error where it called `interruptible`. Commands for which Ctrl-C is
//! the normal end (`logs -f`, `up --forward`) wait with [`Runtime::until_ctrl_c`] instead.
//! [`Runtime::block_on`] leaves SIGINT alone: until a Ctrl-C wait starts, the default action
//! (the process ends, as shells report with 130) is the right one, e.g. at a prompt.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The runtime of one invocation, built on first use.
#[derive(Debug)]
pub struct Runtime {
    tokio: OnceLock<tokio::runtime::Runtime>,
    /// The command words (`up`, `images pull`): what [`Error::Interrupted`] says to run again.
    command: &'static str,
}

impl Runtime {
    /// A runtime for `command`; nothing is built yet.
    pub fn new(command: &'static str) -> Runtime {
        Runtime {
            tokio: OnceLock::new(),
            command,
        }
    }

    /// The tokio runtime, built the first time it is asked for.
    pub fn tokio(&self) -> Result<&tokio::runtime::Runtime> {
        if let Some(rt) = self.tokio.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        // Two threads asking at once both build one; the second is dropped unused.
        let _ = self.tokio.set(rt);
        Ok(self.tokio.get().expect("set just above"))
    }

    /// Run `work` to its end (Ctrl-C keeps its default action).
    pub fn block_on<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.tokio()?.block_on(work)
    }

    /// Run `work`, stopping it cleanly on Ctrl-C with [`Error::Interrupted`]: its futures are
    /// dropped. The one place Ctrl-C becomes an error.
    pub fn interruptible<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let command = self.command;
        self.tokio()?.block_on(async {
            tokio::select! {
                r = work => r,
                _ = ctrl_c() => Err(Error::Interrupted { command }),
            }
        })
    }

    /// Run `work` until it ends or Ctrl-C, which here is the normal end (`logs -f` streams until
    /// then; `up --forward` keeps its port-forward until then).
    pub fn until_ctrl_c(&self, work: impl Future<Output = Result<()>>) -> Result<()> {
        self.tokio()?.block_on(async {
            tokio::select! {
                r = work => r,
                _ = ctrl_c() => Ok(()),
            }
        })
    }
}

/// Ctrl-C, once. An error installing the handler counts as never pressed: the work goes on.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_is_built_once_and_only_when_asked_for() {
        let rt = Runtime::new("status");
        assert!(rt.tokio.get().is_none());
        let a: *const _ = rt.tokio().unwrap();
        let b: *const _ = rt.tokio().unwrap();
        assert_eq!(a, b);
        assert_eq!(rt.block_on(async { Ok(7) }).unwrap(), 7);
        assert_eq!(rt.interruptible(async { Ok(8) }).unwrap(), 8);
        assert!(rt.until_ctrl_c(async { Ok(()) }).is_ok());
    }
}
