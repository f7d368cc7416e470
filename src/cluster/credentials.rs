//! The stack's credentials on onyx's own cluster travel with its data.
//!
//! The stack's data lives in the node's data mount (the Docker volume `onyx-data`, or an older
//! onyx's host directory), which `onyx cluster delete` keeps; its Secrets live in etcd, inside the
//! node's own /var, which `cluster delete` removes. A new node would then get fresh passwords for
//! data initialised with the old ones, and PostgreSQL keeps the old one: postgres:15.2-alpine's
//! entrypoint sets POSTGRES_PASSWORD only through `initdb --pwfile` when `$PGDATA/PG_VERSION` is
//! absent, else says "Skipping initialization" (docker-library/postgres
//! 15/alpine/docker-entrypoint.sh @156d0659, 2023-02-09: `docker_setup_env`,
//! `docker_init_database_dir`), so Onyx's API could no longer log in.
//!
//! So `up` on the own cluster keeps a copy of every stack Secret's values in the data mount
//! itself, at `<storage root>/.onyx/<namespace>/credentials.json` (0600 in a 0700 directory,
//! root's: written through the node as root). It sits beside the claims' directories, never in
//! one: onyx's StorageClass puts claims at `<root>/<namespace>/<claim>`, and a namespace can't be
//! named `.onyx` (a DNS label); a pod mounts only its claim's directory, and local-path's helper
//! pod only the claim's parent `<root>/<namespace>/` (local-path-provisioner v0.0.34
//! provisioner.go `createHelperPod`: `filepath.Split(o.Path)`). It goes where the data goes:
//! kept by `cluster delete`, removed by `cluster delete --purge` (with the volume) and by
//! `destroy --data` (with the claims and the Secrets).
//!
//! Which values win ([`merge`]): a Secret in the cluster (always; the copy follows it), else the
//! copy, else fresh ones. Another cluster than onyx's own keeps only its Secrets (nothing here).

use std::collections::BTreeMap;

use bollard::Docker;

use crate::cluster::kind;
use crate::cluster::node::STORAGE_ROOT;
use crate::error::{Error, Result};
use crate::stack::secrets::{Credentials, SECRETS};

/// The folder under the storage root that holds onyx's own files (not a valid namespace name).
pub const DIR: &str = ".onyx";
/// The copy's format version.
const VERSION: u32 = 1;

/// The copy's path inside the node for a namespace.
pub fn path(namespace: &str) -> Result<String> {
    // A namespace that exists is a DNS label; anything else must not become a path.
    let label = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !label {
        return Err(Error::input(
            format!("{namespace:?} is not a namespace name (a DNS label)"),
            "pass -n with lowercase letters, digits and '-'",
        ));
    }
    Ok(format!("{STORAGE_ROOT}/{DIR}/{namespace}/credentials.json"))
}

/// The copy's text: every stack Secret's values, with the namespace they belong to.
pub fn to_json(namespace: &str, credentials: &Credentials) -> String {
    let doc = serde_json::json!({
        "version": VERSION,
        "namespace": namespace,
        "secrets": credentials.0,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Read a copy back: only stack Secrets with a non-empty value for every key count (a partial
/// one gets fresh values, as a partial Secret in the cluster does).
pub fn from_json(text: &str) -> std::result::Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        version: u32,
        secrets: BTreeMap<String, BTreeMap<String, String>>,
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if doc.version != VERSION {
        return Err(format!(
            "version {} (this onyx reads {VERSION})",
            doc.version
        ));
    }
    let mut out = BTreeMap::new();
    for (name, keys) in SECRETS {
        let Some(values) = doc.secrets.get(*name) else {
            continue;
        };
        let complete = keys
            .iter()
            .all(|k| values.get(*k).is_some_and(|v| !v.is_empty()));
        if complete {
            let kept = keys
                .iter()
                .map(|k| (k.to_string(), values[*k].clone()))
                .collect();
            out.insert(name.to_string(), kept);
        }
    }
    Ok(Credentials(out))
}

/// The credentials to render: fresh values, over them the copy's, over those the Secrets found
/// in the cluster (`in_cluster` holds only complete ones).
pub fn merge(saved: Option<&Credentials>, in_cluster: &Credentials) -> Credentials {
    let mut all = Credentials::generate();
    if let Some(saved) = saved {
        all.0.extend(saved.0.clone());
    }
    all.0.extend(in_cluster.0.clone());
    all
}

/// The copy kept in the node's data mount for `namespace`, if there is one.
pub async fn read(docker: &Docker, node: &str, namespace: &str) -> Result<Option<Credentials>> {
    let file = path(namespace)?;
    // Exit 3: no copy (told apart from a copy that can't be read).
    let script = r#"[ -e "$1" ] || exit 3; cat "$1""#;
    let out = kind::exec(docker, node, &["sh", "-c", script, "sh", &file], None).await?;
    match out.code {
        0 => {}
        3 => return Ok(None),
        _ => {
            return Err(Error::input(
                format!(
                    "cannot read the stack's saved credentials {file} in the node {node}: {}",
                    out.error_text()
                ),
                "check the node's data mount (`onyx cluster status`)",
            ));
        }
    }
    from_json(&out.stdout_text()).map(Some).map_err(|e| {
        Error::input(
            format!("the stack's saved credentials {file} in the node {node} are unusable: {e}"),
            "restore the file from a backup; removing it makes `up` generate new passwords, \
             which the existing database will not accept",
        )
    })
}

/// Keep `credentials` as the copy for `namespace` (0600, root's, replaced whole).
pub async fn write(
    docker: &Docker,
    node: &str,
    namespace: &str,
    credentials: &Credentials,
) -> Result<()> {
    let file = path(namespace)?;
    let dir = file
        .rsplit_once('/')
        .map(|(d, _)| d)
        .unwrap_or(STORAGE_ROOT);
    // umask 077: the directories made and the file are root's alone; written aside and then
    // renamed, so a failed write never leaves half a copy.
    let script = r#"umask 077 && mkdir -p "$1" && cat > "$2.new" && mv -f "$2.new" "$2""#;
    let stdin = kind::stdin_bytes(to_json(namespace, credentials));
    let out = kind::exec(
        docker,
        node,
        &["sh", "-c", script, "sh", dir, &file],
        Some(stdin),
    )
    .await?;
    if !out.ok() {
        return Err(Error::input(
            format!(
                "cannot keep the stack's credentials at {file} in the node {node}: {}",
                out.error_text()
            ),
            "check that the node's data mount is writable (`onyx cluster status`)",
        ));
    }
    Ok(())
}

/// Remove the copy for `namespace` (`onyx destroy --data`: the data and the Secrets go, so the
/// passwords they were protected with must not linger beside the next install's data).
pub async fn remove(docker: &Docker, node: &str, namespace: &str) -> Result<()> {
    let file = path(namespace)?;
    let out = kind::exec(docker, node, &["rm", "-f", &file], None).await?;
    if !out.ok() {
        return Err(Error::input(
            format!(
                "cannot remove the stack's saved credentials {file} in the node {node}: {}",
                out.error_text()
            ),
            format!("remove it by hand: docker exec {node} rm -f {file}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_sits_beside_the_claims_never_in_one() {
        assert_eq!(
            path("default").unwrap(),
            "/var/local-path-provisioner/.onyx/default/credentials.json"
        );
        for bad in ["", "..", "a/b", ".onyx", "Default", "a b"] {
            assert!(path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_copy_reads_back_what_was_written() {
        let c = Credentials::generate();
        assert_eq!(from_json(&to_json("onyx", &c)).unwrap(), c);
        assert!(from_json("{").is_err());
        assert!(from_json(r#"{"version": 2, "secrets": {}}"#).is_err());
    }

    #[test]
    fn a_partial_secret_in_the_copy_is_not_used() {
        let c = Credentials::generate();
        let mut text: serde_json::Value = serde_json::from_str(&to_json("onyx", &c)).unwrap();
        text["secrets"]["onyx-redis"]["password"] = "".into();
        text["secrets"]["onyx-minio"]
            .as_object_mut()
            .unwrap()
            .remove("secret-key");
        let read = from_json(&text.to_string()).unwrap();
        assert!(!read.0.contains_key("onyx-redis"));
        assert!(!read.0.contains_key("onyx-minio"));
        assert_eq!(read.0["onyx-postgresql"], c.0["onyx-postgresql"]);
    }

    #[test]
    fn secrets_in_the_cluster_win_over_the_copy_which_wins_over_fresh_values() {
        let saved = Credentials::generate();
        let mut in_cluster = Credentials::generate();
        in_cluster.0.retain(|name, _| name == "onyx-redis");
        let merged = merge(Some(&saved), &in_cluster);
        assert_eq!(merged.0["onyx-redis"], in_cluster.0["onyx-redis"]);
        for name in ["onyx-postgresql", "onyx-minio", "onyx-app"] {
            assert_eq!(merged.0[name], saved.0[name], "{name}");
        }
        // No copy and nothing in the cluster: every Secret fresh and complete.
        let fresh = merge(None, &Credentials(BTreeMap::new()));
        for (name, keys) in SECRETS {
            for key in *keys {
                assert_ne!(fresh.get(name, key), saved.get(name, key));
            }
        }
    }
}
