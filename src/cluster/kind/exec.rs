//! Commands run inside the node (as `docker exec -i`), stdin streamed in, output collected.

use std::pin::Pin;
use std::time::Duration;

use bollard::Docker;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::docker::DockerError;

/// What a command run inside the node printed, and its exit code.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr (or stdout when stderr is empty), last lines, for messages.
    pub fn error_text(&self) -> String {
        let text = if self.stderr.iter().all(u8::is_ascii_whitespace) {
            String::from_utf8_lossy(&self.stdout)
        } else {
            String::from_utf8_lossy(&self.stderr)
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n");
        format!(
            "exit code {}{}",
            self.code,
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        )
    }
}

/// Bytes streamed into a command's stdin.
pub type Stdin = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Stdin from bytes held in memory.
pub fn stdin_bytes(data: impl Into<Bytes>) -> Stdin {
    let data = data.into();
    Box::pin(futures_util::stream::once(async move { Ok(data) }))
}

/// Run `cmd` inside `container` (as `docker exec -i`), streaming `stdin` into it while its output
/// is collected, and wait for its exit code.
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
    stdin: Option<Stdin>,
) -> Result<ExecOutput, DockerError> {
    let config = ExecConfig {
        attach_stdin: Some(stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let created = docker.create_exec(container, config).await?;
    let mut out = ExecOutput::default();
    let mut write_error = None;
    match docker.start_exec(&created.id, None).await? {
        StartExecResults::Attached {
            mut output,
            mut input,
        } => {
            let has_stdin = stdin.is_some();
            let writer = async move {
                if let Some(mut s) = stdin {
                    while let Some(chunk) = s.next().await {
                        input.write_all(&chunk?).await?;
                    }
                }
                if has_stdin {
                    input.flush().await?;
                    // EOF for the command's stdin.
                    input.shutdown().await?;
                }
                Ok::<_, std::io::Error>(input)
            };
            let reader = async {
                while let Some(item) = output.next().await {
                    match item? {
                        bollard::container::LogOutput::StdErr { message } => {
                            out.stderr.extend_from_slice(&message)
                        }
                        other => out.stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
                Ok::<_, bollard::errors::Error>(())
            };
            let (written, read) = tokio::join!(writer, reader);
            read?;
            match written {
                Ok(input) => drop(input),
                Err(e) => write_error = Some(e),
            }
        }
        StartExecResults::Detached => {}
    }
    // The stream can end a moment before the engine records the exit code.
    let mut tries = 0;
    loop {
        let inspect = docker.inspect_exec(&created.id).await?;
        if inspect.running != Some(true) {
            out.code = inspect.exit_code.unwrap_or(-1);
            break;
        }
        tries += 1;
        if tries > 200 {
            out.code = -1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // A command that fails early stops reading; its exit code says more than the broken pipe.
    if let Some(e) = write_error
        && out.ok()
    {
        return Err(DockerError::Io(e));
    }
    Ok(out)
}

/// Run a command that must succeed; its failure becomes the message.
pub(crate) async fn run(
    docker: &Docker,
    node: &str,
    cmd: &[&str],
    stdin: Option<Stdin>,
) -> Result<ExecOutput, String> {
    let out = exec(docker, node, cmd, stdin)
        .await
        .map_err(|e| e.to_string())?;
    if out.ok() {
        Ok(out)
    } else {
        Err(format!("`{}` failed, {}", cmd.join(" "), out.error_text()))
    }
}
