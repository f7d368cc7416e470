//! Backup and restore of the Onyx database, streamed through the PostgreSQL pod (exec), never
//! held in memory.
//!
//! The file: a fixed 4 KiB header block (magic line + JSON: onyx version, Onyx stack version,
//! time, database, size and sha256 of the dump), then the plain-SQL `pg_dump --clean --if-exists`
//! output. `backup` streams the dump into `FILE.partial` while hashing it, writes the header last,
//! then renames. `restore` checks the header, the stack version and the checksum over the whole
//! dump **before** touching the database, then streams the dump into `psql -v ON_ERROR_STOP=1`.
//! Inside the pod both tools reach the server over its local socket as the image's own user, with
//! the database and user names from the pod's environment (no password ever on a command line).
//!
//! A dump holds every user's chats and accounts, so the file (and its `.partial`) is created mode
//! 0600 whatever the umask, and [`readable_by_others`] lets `restore` warn about a file that is
//! not. The header's Onyx version is the release whose database was dumped (the deployed one,
//! [`crate::stack::release`]), which is not always the one this onyx deploys: `up` backs up the
//! older release's database before it upgrades.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::stack::ONYX_VERSION;

/// First line of every backup file.
pub const MAGIC: &[u8] = b"ONYX-BACKUP 1\n";
/// Size of the header block before the dump.
pub const HEADER_LEN: usize = 4096;
/// The container that runs PostgreSQL.
const CONTAINER: &str = "postgresql";

const DUMP: &str =
    "exec pg_dump --clean --if-exists --no-owner -U \"$POSTGRES_USER\" \"$POSTGRES_DB\"";
const PSQL: &str = "exec psql -q -v ON_ERROR_STOP=1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub onyx_version: String,
    pub stack_version: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub database: String,
    pub size: u64,
    pub sha256: String,
}

fn encode_header(h: &Header) -> Vec<u8> {
    let mut block = MAGIC.to_vec();
    block.extend(serde_json::to_vec(h).expect("header serializes"));
    block.resize(HEADER_LEN - 1, b' ');
    block.push(b'\n');
    block
}

fn bad_file(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::input(
        format!("{} is not a usable onyx backup: {what}", path.display()),
        "pass a file written by `onyx backup`; the database was not touched",
    )
}

/// Read and check the header (not the dump).
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = std::fs::File::open(path).map_err(|e| bad_file(path, e))?;
    let mut block = vec![0; HEADER_LEN];
    f.read_exact(&mut block)
        .map_err(|_| bad_file(path, "it is shorter than a backup header"))?;
    if !block.starts_with(MAGIC) {
        return Err(bad_file(path, "it does not start like one"));
    }
    let json = std::str::from_utf8(&block[MAGIC.len()..])
        .map_err(|_| bad_file(path, "its header is not text"))?
        .trim();
    serde_json::from_str(json).map_err(|e| bad_file(path, format!("its header is damaged ({e})")))
}

/// Check the header, the stack version and the dump's size and sha256.
pub fn verify(path: &Path) -> Result<Header> {
    let header = read_header(path)?;
    if header.stack_version != ONYX_VERSION {
        return Err(Error::input(
            format!(
                "{} holds a database of Onyx {}, but this onyx deploys Onyx {ONYX_VERSION}",
                path.display(),
                header.stack_version
            ),
            format!(
                "restore it with an onyx that deploys Onyx {} (the schema differs); \
                 the database was not touched",
                header.stack_version
            ),
        ));
    }
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(HEADER_LEN as u64))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let sum = hex(&hasher.finalize());
    if size != header.size {
        return Err(bad_file(
            path,
            format!(
                "the dump is {size} bytes, the header says {} (truncated?)",
                header.size
            ),
        ));
    }
    if sum != header.sha256 {
        return Err(bad_file(
            path,
            "the dump does not match its sha256 (corrupted)",
        ));
    }
    Ok(header)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ready PostgreSQL pod of the stack. None ready: a stack whose PostgreSQL is stopped
/// (`onyx down`) or not ready yet is the cluster's state (exit 3); a namespace with no stack's
/// PostgreSQL at all is the wrong `-n` or no install (exit 2).
pub async fn postgres_pod(client: &Client, namespace: &str) -> Result<String> {
    if let Some(pod) = crate::kube::exec::ready_pod(client, namespace, CONTAINER)
        .await
        .map_err(|e| kube_error(e, namespace))?
    {
        return Ok(pod);
    }
    // The catalog names the workload after its service, and says its kind.
    let ours = |m: &kube::api::ObjectMeta| {
        m.labels
            .as_ref()
            .and_then(|l| l.get(crate::stack::render::LABEL_PART_OF))
            .map(String::as_str)
            == Some(crate::stack::render::PART_OF)
    };
    let workload = crate::stack::catalog::all_services()
        .find(|s| s.name == CONTAINER)
        .map(|s| s.workload);
    let installed = match workload {
        Some(crate::stack::catalog::Workload::StatefulSet) => {
            Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(client.clone(), namespace)
                .get_opt(CONTAINER)
                .await
                .map_err(|e| kube_error(e, namespace))?
                .is_some_and(|w| ours(&w.metadata))
        }
        _ => Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), namespace)
            .get_opt(CONTAINER)
            .await
            .map_err(|e| kube_error(e, namespace))?
            .is_some_and(|w| ours(&w.metadata)),
    };
    if installed {
        Err(Error::environment(
            format!(
                "no ready PostgreSQL pod of the Onyx stack in namespace {namespace} (the stack is \
                 stopped or not ready)"
            ),
            "start the stack first (`onyx up`), then check `onyx status`",
        ))
    } else {
        Err(Error::input(
            format!(
                "no ready PostgreSQL pod of the Onyx stack in namespace {namespace}: no stack is \
                 installed there"
            ),
            "pass the -n (and --context) the stack was installed with, or install it with `onyx up`",
        ))
    }
}

fn kube_error(e: kube::Error, namespace: &str) -> Error {
    Error::input(
        format!("the Kubernetes API refused or failed (namespace {namespace}): {e}"),
        "check the cluster is reachable (`kubectl get pods -n <namespace>`) and the context is right",
    )
}

async fn exec_status(
    mut process: kube::api::AttachedProcess,
    what: &str,
    stderr: Vec<u8>,
) -> Result<()> {
    let status = match process.take_status() {
        Some(s) => s.await,
        None => None,
    };
    let _ = process.join().await;
    match status {
        Some(s) if s.status.as_deref() == Some("Success") => Ok(()),
        // A job that ran and failed (exit 1); a lost connection is the environment (exit 3).
        Some(s) => Err(Error::failed(
            format!(
                "{what} failed in the PostgreSQL pod: {}{}",
                s.message.unwrap_or_default(),
                tail(&stderr)
            ),
            "check `onyx logs postgresql`; nothing was changed locally",
        )),
        None => Err(Error::environment(
            format!(
                "{what} ended without an exit status (connection lost?){}",
                tail(&stderr)
            ),
            "try again",
        )),
    }
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().rev().take(10).collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            "\n  | {}",
            lines.into_iter().rev().collect::<Vec<_>>().join("\n  | ")
        )
    }
}

fn partial(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Create `path` for writing, mode 0600 exactly (not 0600 minus the umask, and not whatever mode
/// a file left there had): a leftover is removed first, then the new file is made with
/// `create_new` and its mode set again.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// The file's mode when group or others may read it (`None`: private, or not a Unix system).
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Dump the database into `out` (mode 0600). `stack_version` is the Onyx release the database
/// belongs to (the deployed one), written into the header.
pub async fn backup(
    client: &Client,
    namespace: &str,
    out: &Path,
    stack_version: &str,
) -> Result<Header> {
    let pod = postgres_pod(client, namespace).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let ap = AttachParams::default()
        .container(CONTAINER)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut process = pods
        .exec(&pod, ["sh", "-c", DUMP], &ap)
        .await
        .map_err(|e| kube_error(e, namespace))?;
    let mut stdout = process.stdout().expect("stdout requested");
    let mut stderr = process.stderr().expect("stderr requested");
    let err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });

    let tmp = partial(out);
    let result = async {
        let mut file = create_private(&tmp)?;
        file.write_all(&vec![b' '; HEADER_LEN])?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            size += n as u64;
        }
        let stderr = err_task.await.unwrap_or_default();
        exec_status(process, "pg_dump", stderr).await?;
        if size == 0 {
            return Err(Error::failed(
                "pg_dump wrote nothing",
                "check `onyx logs postgresql`",
            ));
        }
        let header = Header {
            onyx_version: env!("CARGO_PKG_VERSION").into(),
            stack_version: stack_version.into(),
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            database: "onyx".into(),
            size,
            sha256: hex(&hasher.finalize()),
        };
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&encode_header(&header))?;
        file.sync_all()?;
        Ok(header)
    }
    .await;
    match result {
        Ok(header) => {
            std::fs::rename(&tmp, out)?;
            Ok(header)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Load a verified backup into the database (the caller has asked the user).
pub async fn restore(client: &Client, namespace: &str, path: &Path) -> Result<Header> {
    let header = verify(path)?;
    let pod = postgres_pod(client, namespace).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let ap = AttachParams::default()
        .container(CONTAINER)
        .stdin(true)
        .stdout(true)
        .stderr(true);
    let mut process = pods
        .exec(&pod, ["sh", "-c", PSQL], &ap)
        .await
        .map_err(|e| kube_error(e, namespace))?;
    let mut stdin = process.stdin().expect("stdin requested");
    let mut stdout = process.stdout().expect("stdout requested");
    let mut stderr = process.stderr().expect("stderr requested");
    let out_task = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink).await;
    });
    let err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(SeekFrom::Start(HEADER_LEN as u64)).await?;
    tokio::io::copy(&mut file, &mut stdin).await?;
    stdin.shutdown().await?;
    drop(stdin);
    let _ = out_task.await;
    let stderr = err_task.await.unwrap_or_default();
    exec_status(process, "psql", stderr).await?;
    Ok(header)
}

use tokio::io::AsyncSeekExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(dir: &Path, header: &Header, body: &[u8]) -> PathBuf {
        let p = dir.join("b.onyx-backup");
        let mut bytes = encode_header(header);
        bytes.extend_from_slice(body);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn header_for(body: &[u8]) -> Header {
        Header {
            onyx_version: "0.1.0".into(),
            stack_version: ONYX_VERSION.into(),
            created_at: 1,
            database: "onyx".into(),
            size: body.len() as u64,
            sha256: hex(&Sha256::digest(body)),
        }
    }

    #[test]
    fn a_good_file_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"CREATE TABLE t (x int);\n";
        let p = write_file(dir.path(), &header_for(body), body);
        assert_eq!(verify(&p).unwrap(), header_for(body));
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            (HEADER_LEN + body.len()) as u64
        );
    }

    #[test]
    fn damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"CREATE TABLE t (x int);\n";
        let p = write_file(dir.path(), &header_for(body), b"CREATE TABLE t (y int);\n");
        assert!(verify(&p).unwrap_err().to_string().contains("corrupted"));
        let p = write_file(dir.path(), &header_for(body), &body[..10]);
        assert!(verify(&p).unwrap_err().to_string().contains("truncated"));
        std::fs::write(&p, b"hello").unwrap();
        assert!(verify(&p).unwrap_err().to_string().contains("shorter"));
        std::fs::write(&p, vec![b'x'; 5000]).unwrap();
        assert!(
            verify(&p)
                .unwrap_err()
                .to_string()
                .contains("does not start")
        );
        let mut other = header_for(body);
        other.stack_version = "v1.0.0".into();
        let p = write_file(dir.path(), &other, body);
        let err = verify(&p).unwrap_err();
        assert!(err.to_string().contains("Onyx v1.0.0"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_made_private_whatever_was_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.partial");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(readable_by_others(&p), Some(0o666));
        let mut f = create_private(&p).unwrap();
        f.write_all(b"new").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(readable_by_others(&p), None);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(readable_by_others(&p), Some(0o640));
    }
}
