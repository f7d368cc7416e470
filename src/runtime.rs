//! The tokio runtime the commands run on, and the one way work stops on Ctrl-C.

use crate::error::Result;

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Run `work`, stopping it cleanly on Ctrl-C: its futures are dropped, which closes the engine
/// connections (the engine then stops the pull or load it was doing for us).
pub fn until_interrupted<T>(
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    runtime.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(crate::docker::DockerError::Interrupted.into()),
        }
    })
}
