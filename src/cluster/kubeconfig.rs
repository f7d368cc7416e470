//! The own cluster's kubeconfig, merged into the user's as context `kind-onyx` (as kind names it)
//! without ever breaking the file: kubectl's rules for which file to write, client-go's lock file,
//! a backup of the previous file, and a write in place as kind's (a symlinked or bind-mounted file
//! stays what it is). `cluster delete` removes only our entries.
//!
//! Other contexts, users, clusters and unknown fields are kept as they were (the file is handled as
//! generic YAML, not through a schema that could drop what it doesn't know).

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Where to write, by kubectl's rules: an explicit path; else `$KUBECONFIG`'s only entry, or its
/// first existing file, or its last entry; else `~/.kube/config`.
pub fn path_for_merge(
    explicit: Option<&Path>,
    kubeconfig_env: Option<&OsStr>,
    home: &Path,
) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in kubeconfig_env
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
    {
        if !p.as_os_str().is_empty() && !paths.contains(&p) {
            paths.push(p);
        }
    }
    match paths.len() {
        0 => home.join(".kube").join("config"),
        1 => paths.remove(0),
        _ => paths
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| paths.last().expect("non-empty").clone()),
    }
}

/// Turn the node's `/etc/kubernetes/admin.conf` into our entries: everything named `context`
/// (`kind-onyx` for the default cluster), the server pointed at `https://127.0.0.1:<host port>`.
pub fn from_admin_conf(admin_conf: &str, host_port: u16, context: &str) -> Result<Value> {
    let bad = |what: &str| {
        Error::Internal(anyhow::anyhow!(
            "the node's admin.conf is not what kubeadm writes: {what}"
        ))
    };
    let v: Value = serde_saphyr::from_str(admin_conf).map_err(|e| bad(&e.to_string()))?;
    let first = |key: &str| -> Result<Value> {
        v[key]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| bad(&format!("no {key}")))
    };
    let mut cluster = first("clusters")?["cluster"].clone();
    let user = first("users")?["user"].clone();
    if !cluster.is_object() || !user.is_object() {
        return Err(bad("cluster or user is empty"));
    }
    cluster["server"] = json!(format!("https://127.0.0.1:{host_port}"));
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }))
}

/// How long to wait for another program's lock on the file.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// client-go's lock: `<file>.lock`, created exclusively, removed when done.
struct Lock(PathBuf);

impl Lock {
    fn acquire(file: &Path, wait: Duration) -> Result<Lock> {
        let lock = lock_path(file);
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let deadline = Instant::now() + wait;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(_) => return Ok(Lock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        return Err(Error::input(
                            format!("{} is locked by another program", file.display()),
                            format!(
                                "wait for kubectl/kind to finish, or remove {} if none is running",
                                lock.display()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn lock_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// The backup written before each change.
pub fn backup_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".onyx-backup");
    PathBuf::from(s)
}

fn read(file: &Path) -> Result<Value> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(json!({})),
        Err(e) => return Err(e.into()),
    };
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| {
        Error::input(
            format!("{} is not a valid kubeconfig: {e}", file.display()),
            "fix the file (kubectl can't read it either), or point KUBECONFIG elsewhere",
        )
    })?;
    if !v.is_object() {
        return Err(Error::input(
            format!(
                "{} is not a valid kubeconfig: not a mapping",
                file.display()
            ),
            "fix the file, or point KUBECONFIG elsewhere",
        ));
    }
    Ok(v)
}

/// Write the file in place, as kind does (kind v0.32.0
/// `pkg/cluster/internal/kubeconfig/internal/kubeconfig/write.go`: `os.WriteFile(path, data,
/// 0600)`, the directory made 0755 if missing), after keeping a backup of what was there.
///
/// In place, not a temp file renamed over it: a rename replaces a symlinked `~/.kube/config`
/// (dotfile managers) with a plain file, and fails with EBUSY where the file is a mount point
/// (a bind-mounted kubeconfig in a dev container). Opening the path follows the link and writes
/// the target. The file is made private to the user (0600, the link's target for a link) also
/// when it existed: it now holds our cluster's client key (kind's `os.WriteFile` leaves an
/// existing file's mode as it was; onyx is stricter on purpose). The lock ([`Lock`]) keeps
/// kubectl and kind out meanwhile; the backup is what is left should the write be cut short.
fn write(file: &Path, v: &Value) -> Result<()> {
    if file.is_file() {
        std::fs::copy(file, backup_path(file))?;
    }
    let text = serde_saphyr::to_string(v).map_err(|e| Error::Internal(e.into()))?;
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Best effort: a file the user may write but doesn't own (group-shared, or bind-mounted
        // with another uid) can't be chmodded (EPERM) where kind's plain write succeeds; the
        // write goes on and the user is told what the file's mode lets others read.
        let mode = f.metadata()?.permissions().mode() & 0o777;
        if mode != 0o600
            && let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(
                "could not make {} private (mode {mode:o}: {e}); it now holds the cluster's \
                 client key: `chmod 600` it if others can read it",
                file.display()
            );
        }
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Insert or replace the entry named like `entry["name"]` in the list `key`.
fn upsert(config: &mut Value, key: &str, entry: &Value) {
    let list = config
        .as_object_mut()
        .expect("checked: a mapping")
        .entry(key)
        .or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let items = list.as_array_mut().expect("array");
    match items.iter_mut().find(|i| i["name"] == entry["name"]) {
        Some(slot) => *slot = entry.clone(),
        None => items.push(entry.clone()),
    }
}

/// Merge our entries into the file and make ours the current context.
pub fn merge(file: &Path, ours: &Value) -> Result<()> {
    let _lock = Lock::acquire(file, LOCK_WAIT)?;
    let mut config = read(file)?;
    for key in ["clusters", "users", "contexts"] {
        for entry in ours[key].as_array().into_iter().flatten() {
            upsert(&mut config, key, entry);
        }
    }
    let obj = config.as_object_mut().expect("a mapping");
    obj.entry("apiVersion").or_insert_with(|| json!("v1"));
    obj.entry("kind").or_insert_with(|| json!("Config"));
    obj.insert("current-context".into(), ours["current-context"].clone());
    write(file, &config)
}

/// Remove the entries named `context`; if it was the current context, none is current afterwards
/// (as kind does). A missing file, or one without our entries, is left untouched.
pub fn remove(file: &Path, context: &str) -> Result<bool> {
    if !file.exists() {
        return Ok(false);
    }
    let _lock = Lock::acquire(file, LOCK_WAIT)?;
    let mut config = read(file)?;
    let mut changed = false;
    for key in ["clusters", "users", "contexts"] {
        if let Some(items) = config.get_mut(key).and_then(|l| l.as_array_mut()) {
            let before = items.len();
            items.retain(|i| i["name"] != context);
            changed |= items.len() != before;
        }
    }
    if config["current-context"] == context {
        config["current-context"] = json!("");
        changed = true;
    }
    if changed {
        write(file, &config)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::CONTEXT_NAME;

    const ADMIN_CONF: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://onyx-control-plane:6443
  name: onyx
contexts:
- context:
    cluster: onyx
    user: kubernetes-admin
  name: kubernetes-admin@onyx
current-context: kubernetes-admin@onyx
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
";

    const USER_CONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
    namespace: team-a
current-context: prod
users:
- name: prod-admin
  user:
    token: secret-token
preferences:
  colors: true
";

    fn names(v: &Value, key: &str) -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn merge_path_follows_kubectl() {
        let home = Path::new("/home/u");
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let joined = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(path_for_merge(None, None, home), home.join(".kube/config"));
        assert_eq!(path_for_merge(Some(&a), Some(&joined), home), a);
        assert_eq!(path_for_merge(None, Some(a.as_os_str()), home), a);
        // Several entries, none exists: the last one.
        assert_eq!(path_for_merge(None, Some(&joined), home), b);
        // Several entries: the first that exists.
        std::fs::write(&b, "").unwrap();
        assert_eq!(path_for_merge(None, Some(&joined), home), b);
        std::fs::write(&a, "").unwrap();
        assert_eq!(path_for_merge(None, Some(&joined), home), a);
        assert_eq!(
            path_for_merge(None, Some(OsStr::new("")), home),
            home.join(".kube/config")
        );
    }

    #[test]
    fn admin_conf_is_renamed_and_pointed_at_localhost() {
        let ours = from_admin_conf(ADMIN_CONF, 41234, CONTEXT_NAME).unwrap();
        assert_eq!(ours["clusters"][0]["name"], CONTEXT_NAME);
        assert_eq!(
            ours["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:41234"
        );
        assert_eq!(
            ours["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0EK"
        );
        assert_eq!(ours["users"][0]["user"]["client-key-data"], "S0VZCg==");
        assert_eq!(ours["contexts"][0]["context"]["user"], CONTEXT_NAME);
        assert_eq!(ours["current-context"], CONTEXT_NAME);
        assert!(from_admin_conf("clusters: []", 1, CONTEXT_NAME).is_err());
        assert!(from_admin_conf(": : :", 1, CONTEXT_NAME).is_err());
    }

    #[test]
    fn merge_keeps_everything_else_backs_up_and_removes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER_CONFIG).unwrap();
        let ours = from_admin_conf(ADMIN_CONF, 41234, CONTEXT_NAME).unwrap();

        merge(&file, &ours).unwrap();
        let merged: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(names(&merged, "clusters"), ["prod", CONTEXT_NAME]);
        assert_eq!(names(&merged, "contexts"), ["prod", CONTEXT_NAME]);
        assert_eq!(names(&merged, "users"), ["prod-admin", CONTEXT_NAME]);
        assert_eq!(merged["current-context"], CONTEXT_NAME);
        assert_eq!(merged["users"][0]["user"]["token"], "secret-token");
        assert_eq!(merged["contexts"][0]["context"]["namespace"], "team-a");
        assert_eq!(merged["preferences"]["colors"], true);
        assert_eq!(
            std::fs::read_to_string(backup_path(&file)).unwrap(),
            USER_CONFIG
        );
        assert!(!lock_path(&file).exists(), "lock left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Merging again replaces our entries instead of adding more.
        let again = from_admin_conf(ADMIN_CONF, 50000, CONTEXT_NAME).unwrap();
        merge(&file, &again).unwrap();
        let merged: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(names(&merged, "clusters"), ["prod", CONTEXT_NAME]);
        assert_eq!(
            merged["clusters"][1]["cluster"]["server"],
            "https://127.0.0.1:50000"
        );

        assert!(remove(&file, CONTEXT_NAME).unwrap());
        let after: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(names(&after, "clusters"), ["prod"]);
        assert_eq!(names(&after, "contexts"), ["prod"]);
        assert_eq!(names(&after, "users"), ["prod-admin"]);
        assert_eq!(after["current-context"], "");
        assert_eq!(after["users"][0]["user"]["token"], "secret-token");
        // Nothing of ours left: a second remove changes nothing.
        assert!(!remove(&file, CONTEXT_NAME).unwrap());
    }

    #[test]
    fn merge_creates_a_missing_file_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".kube/config");
        merge(
            &file,
            &from_admin_conf(ADMIN_CONF, 1234, CONTEXT_NAME).unwrap(),
        )
        .unwrap();
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["kind"], "Config");
        assert_eq!(names(&v, "contexts"), [CONTEXT_NAME]);
        assert!(!backup_path(&file).exists());
    }

    /// Issue #20 item 14: a symlinked kubeconfig (dotfile managers) stays a link and its target
    /// gets our entries, as kind's in-place `os.WriteFile` does; a rename would have replaced the
    /// link with a plain file.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_kubeconfig_stays_a_link_and_its_target_is_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles").join("kubeconfig");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, USER_CONFIG).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join(".kube").join("config");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        merge(
            &link,
            &from_admin_conf(ADMIN_CONF, 1234, CONTEXT_NAME).unwrap(),
        )
        .unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced by a file"
        );
        assert_eq!(std::fs::read_link(&link).unwrap(), target);
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
        assert_eq!(
            names(&v, "contexts"),
            ["prod".to_string(), CONTEXT_NAME.into()]
        );
        // The target is made private (it holds our client key now).
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // The backup (of the target's old content) and the lock sit beside the path given.
        assert_eq!(
            std::fs::read_to_string(backup_path(&link)).unwrap(),
            USER_CONFIG
        );
        assert!(!lock_path(&link).exists());
        assert!(remove(&link, CONTEXT_NAME).unwrap());
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
        assert_eq!(names(&v, "contexts"), ["prod"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_kubeconfig_is_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        merge(
            &file,
            &from_admin_conf(ADMIN_CONF, 1234, CONTEXT_NAME).unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_held_lock_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, USER_CONFIG).unwrap();
        let held = Lock::acquire(&file, Duration::ZERO).unwrap();
        let err = Lock::acquire(&file, Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(err.to_string().contains("locked"), "{err}");
        assert!(err.hint().unwrap().contains(".lock"));
        drop(held);
        // Released: another writer gets it, and a merge waits for a lock released meanwhile.
        let held = Lock::acquire(&file, Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        merge(
            &file,
            &from_admin_conf(ADMIN_CONF, 1, CONTEXT_NAME).unwrap(),
        )
        .unwrap();
        releaser.join().unwrap();
        assert_eq!(
            std::fs::read_to_string(backup_path(&file)).unwrap(),
            USER_CONFIG
        );
    }

    #[test]
    fn a_broken_kubeconfig_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, "clusters: [unclosed\n").unwrap();
        let err = merge(
            &file,
            &from_admin_conf(ADMIN_CONF, 1, CONTEXT_NAME).unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a valid kubeconfig"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "clusters: [unclosed\n"
        );
        assert!(!lock_path(&file).exists());
    }
}
