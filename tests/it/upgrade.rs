//! Data safety across Onyx releases, driven as the real binary against the Kubernetes API
//! simulator, with a **real PostgreSQL** (Debian's, started by scripts/test.sh on 127.0.0.1)
//! behind the simulator's exec, which runs the very pg_dump/psql commands onyx sends to the
//! PostgreSQL pod (as tests/it/backup.rs does).
//!
//! The binary's pin stays Onyx v2.3.0; the test sets the release recorded on the live API
//! Deployment (its annotation, as an older or newer onyx would have left it) and shows:
//! install and same release → applied with no backup; an older release → a backup (mode 0600, the
//! release in its name, in the data dir) is written first, then the stack is applied; the newest
//! three are kept; `--no-backup` skips it; a backup that can't be written stops the upgrade with
//! nothing applied; a newer release → refused with nothing changed, and `restore` of a backup of
//! this onyx's release is the way back; `status -o json` shows both releases; `destroy --data`
//! lists every claim with its size before it asks.

use crate::support::{self, cmd::Run};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_sim::Target;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;

const NS: &str = "onyx-upgrade";
const RELEASE: &str = "onyx-installer.github.io/onyx-release";
const PG_SELECTOR: &str = "app.kubernetes.io/name=postgresql,app.kubernetes.io/part-of=onyx";

/// The simulator with this file's namespace, data dir and backups.
struct Env(support::sim::SimEnv);

impl std::ops::Deref for Env {
    type Target = support::sim::SimEnv;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

async fn env() -> Env {
    Env(support::sim::SimEnv::start(support::sim::timing(100, None)).await)
}

impl Env {
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn backups(&self) -> PathBuf {
        self.data_dir().join("backups").join("sim").join(NS)
    }

    async fn onyx(&self, args: &[&str]) -> Run {
        self.0.onyx(NS, args).run().await
    }

    /// `onyx up` sized to the small profile, backups into this test's data dir.
    async fn up(&self, extra: &[&str]) -> Run {
        let data = self.data_dir();
        let mut args = vec![
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--timeout",
            "60s",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.onyx(&args).await
    }

    fn client(&self) -> kube::Client {
        self.0.client()
    }

    /// Leave the record an older or newer onyx would have left on the API Deployment.
    async fn record(&self, release: &str) {
        let api: Api<Deployment> = Api::namespaced(self.client(), NS);
        let body = serde_json::json!({"metadata": {"annotations": {RELEASE: release}}});
        api.patch("api-server", &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
        assert_eq!(self.recorded().await, release);
    }

    async fn recorded(&self) -> String {
        let api: Api<Deployment> = Api::namespaced(self.client(), NS);
        api.get("api-server").await.unwrap().annotations()[RELEASE].clone()
    }

    /// Every object onyx applies, with its resourceVersion: equal snapshots mean nothing changed.
    async fn snapshot(&self) -> Vec<(String, String, String)> {
        async fn of<K>(c: &kube::Client, out: &mut Vec<(String, String, String)>)
        where
            K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
                + Clone
                + std::fmt::Debug
                + serde::de::DeserializeOwned,
        {
            let api: Api<K> = Api::namespaced(c.clone(), NS);
            let lp = ListParams::default().labels("app.kubernetes.io/part-of=onyx");
            for o in api.list(&lp).await.unwrap().items {
                out.push((
                    K::kind(&()).to_string(),
                    o.name_any(),
                    o.resource_version().unwrap_or_default(),
                ));
            }
        }
        let c = self.client();
        let mut out = Vec::new();
        of::<Deployment>(&c, &mut out).await;
        of::<StatefulSet>(&c, &mut out).await;
        of::<Service>(&c, &mut out).await;
        of::<ConfigMap>(&c, &mut out).await;
        of::<Secret>(&c, &mut out).await;
        of::<NetworkPolicy>(&c, &mut out).await;
        of::<PersistentVolumeClaim>(&c, &mut out).await;
        out.sort();
        out
    }
}

fn line_index(stderr: &str, starts: &str) -> usize {
    stderr
        .lines()
        .position(|l| l.contains(starts))
        .unwrap_or_else(|| panic!("no line with {starts:?} in:\n{stderr}"))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn psql(port: &str, db: &str, sql: &str) -> String {
    support::psql(port, db, sql)
}

async fn status_json(e: &Env) -> Value {
    let run = e.onyx(&["status", "-o", "json"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    serde_json::from_str(&run.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrades_back_up_first_same_applies_newer_is_refused() {
    let Some(port) = support::test_postgres() else {
        return;
    };
    psql(&port, "postgres", "DROP DATABASE IF EXISTS onyxupgrade");
    psql(&port, "postgres", "CREATE DATABASE onyxupgrade");
    psql(
        &port,
        "onyxupgrade",
        "CREATE TABLE chat (id int PRIMARY KEY, body text); \
         INSERT INTO chat VALUES (1, 'hello from v2.2.0'), (2, 'second');",
    );
    let original = psql(
        &port,
        "onyxupgrade",
        "SELECT id, md5(body) FROM chat ORDER BY id",
    );

    let e = env().await;
    // The commands onyx execs in the PostgreSQL pod run here, with what that pod's environment gives.
    e.sim.on_exec_with_env(
        Target::labels(PG_SELECTOR),
        None,
        &support::postgres_pod_env(&port, "onyxupgrade"),
    );

    // Install, then the same release again: applied, no backup.
    let first = e.up(&[]).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(e.recorded().await, "v2.3.0");
    let same = e.up(&[]).await;
    assert_eq!(same.code, Some(0), "{same:?}");
    for run in [&first, &same] {
        assert!(!run.stderr.contains("Backing it up"), "{run:?}");
        assert!(run.stderr.contains("applied "), "{run:?}");
    }
    assert!(names(&e.backups()).is_empty(), "{:?}", names(&e.backups()));
    let json = status_json(&e).await;
    assert_eq!(json["release"]["deployed"], "v2.3.0", "{json}");
    assert_eq!(json["release"]["deployed_is"], "same", "{json}");

    // An older release: status shows both; up backs up first, then applies.
    e.record("v2.2.0").await;
    let json = status_json(&e).await;
    assert_eq!(
        json["release"],
        serde_json::json!({
            "deployed": "v2.2.0",
            "deployed_by": onyx::stack::release::installer_version(),
            "source": "annotation",
            "this_onyx_deploys": "v2.3.0",
            "deployed_is": "older",
        }),
        "{json}"
    );
    let text = e.onyx(&["status"]).await;
    assert!(
        text.stdout.contains(
            "Onyx release: v2.2.0 (applied by onyx 0.1.0) deployed; this onyx deploys v2.3.0"
        ),
        "{text:?}"
    );
    let upgrade = e.up(&[]).await;
    assert_eq!(upgrade.code, Some(0), "{upgrade:?}");
    let asked = line_index(
        &upgrade.stderr,
        "Onyx v2.2.0 is deployed; this onyx deploys v2.3.0",
    );
    let saved = line_index(&upgrade.stderr, "backed up the database of Onyx v2.2.0 to ");
    let applied = upgrade
        .stderr
        .lines()
        .position(|l| l.starts_with("applied "))
        .expect("applied");
    assert!(asked < saved && saved < applied, "{upgrade:?}");
    let files = names(&e.backups());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("-onyx-v2.2.0.onyx-backup"), "{files:?}");
    let file = e.backups().join(&files[0]);
    assert!(
        upgrade.stderr.contains(&file.display().to_string()),
        "{upgrade:?}"
    );
    assert_eq!(mode(&file), 0o600, "the backup must be private");
    assert_eq!(mode(&e.backups()), 0o700);
    let header = onyx::backup::read_header(&file).unwrap();
    assert_eq!(
        header.stack_version, "v2.2.0",
        "the database dumped is v2.2.0's"
    );
    let dump = std::fs::read(&file).unwrap();
    assert!(
        String::from_utf8_lossy(&dump).contains("hello from v2.2.0"),
        "the dump holds the data"
    );
    assert_eq!(e.recorded().await, "v2.3.0", "applied after the backup");
    assert_eq!(status_json(&e).await["release"]["deployed_is"], "same");

    // A backup that can't be written stops the upgrade: nothing applied.
    e.record("v2.2.0").await;
    let before = e.snapshot().await;
    let not_a_dir = e.dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let failed = e
        .onyx(&[
            "up",
            "--profile",
            "small",
            "--force",
            "--no-browser",
            "--data-dir",
            not_a_dir.to_str().unwrap(),
        ])
        .await;
    assert_eq!(failed.code, Some(3), "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("the backup before the upgrade failed, so nothing was applied"),
        "{failed:?}"
    );
    assert!(failed.stderr.contains("--no-backup"), "{failed:?}");
    assert!(
        !failed.stderr.lines().any(|l| l.starts_with("applied ")),
        "{failed:?}"
    );
    assert_eq!(
        before,
        e.snapshot().await,
        "a failed backup changed the stack"
    );
    assert_eq!(e.recorded().await, "v2.2.0");

    // Only the newest three are kept.
    for _ in 0..3 {
        let run = e.up(&[]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        e.record("v2.2.0").await;
    }
    let kept = names(&e.backups());
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(!kept.contains(&files[0]), "the oldest went: {kept:?}");

    // --no-backup: applied with a warning, no new file.
    let skipped = e.up(&["--no-backup"]).await;
    assert_eq!(skipped.code, Some(0), "{skipped:?}");
    assert!(skipped.stderr.contains("without a backup"), "{skipped:?}");
    assert_eq!(kept, names(&e.backups()));
    assert_eq!(e.recorded().await, "v2.3.0");

    // A backup of this onyx's release, to go back to later; written 0600.
    let ours = e.dir.path().join("v2.3.0.onyx-backup");
    let run = e.onyx(&["backup", "-o", ours.to_str().unwrap()]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(mode(&ours), 0o600);
    assert!(!e.dir.path().join("v2.3.0.onyx-backup.partial").exists());
    assert_eq!(onyx::backup::verify(&ours).unwrap().stack_version, "v2.3.0");

    // A newer release migrated the database: refused, nothing changed.
    psql(
        &port,
        "onyxupgrade",
        "UPDATE chat SET body = 'written by v2.4.0' WHERE id = 1",
    );
    // One backup of v2.3.0 where `up` keeps them, for the refusal to list.
    let listed = e
        .backups()
        .join("20000101T000000.000Z-onyx-v2.3.0.onyx-backup");
    std::fs::copy(&ours, &listed).unwrap();
    e.record("v2.4.0").await;
    assert_eq!(status_json(&e).await["release"]["deployed_is"], "newer");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = e.snapshot().await;
    let refused = e.up(&[]).await;
    assert_eq!(refused.code, Some(3), "{refused:?}");
    for part in [
        "runs Onyx v2.4.0, newer than the Onyx v2.3.0 this onyx deploys",
        "nothing was applied",
        "cannot be migrated back",
        "Can't locate revision",
        "onyx restore FILE",
        "the onyx release that deploys it",
        "backups of Onyx v2.3.0 for this namespace:",
    ] {
        assert!(refused.stderr.contains(part), "{part}: {refused:?}");
    }
    assert!(
        refused.stderr.contains(&listed.display().to_string()),
        "{refused:?}"
    );
    // Only backups of this onyx's release are offered (not the v2.2.0 ones).
    assert!(!refused.stderr.contains("-onyx-v2.2.0"), "{refused:?}");
    assert!(!refused.stderr.contains("Backing it up"), "{refused:?}");
    assert_eq!(
        before,
        e.snapshot().await,
        "a refused downgrade changed the stack"
    );
    assert_eq!(e.recorded().await, "v2.4.0");

    // The way back: restore the backup of v2.3.0 (warned: readable by others), then up.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let restored = e.onyx(&["restore", "--yes", ours.to_str().unwrap()]).await;
    assert_eq!(restored.code, Some(0), "{restored:?}");
    assert!(
        restored
            .stderr
            .contains("is readable by other users (mode 0644)"),
        "{restored:?}"
    );
    assert_eq!(
        psql(
            &port,
            "onyxupgrade",
            "SELECT id, md5(body) FROM chat ORDER BY id"
        ),
        original
    );
    assert_eq!(e.recorded().await, "v2.3.0", "restore records the release");
    let back = e.up(&[]).await;
    assert_eq!(back.code, Some(0), "{back:?}");
    assert!(!back.stderr.contains("Backing it up"), "{back:?}");

    // A private file gets no warning.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let quiet = e.onyx(&["restore", "--yes", ours.to_str().unwrap()]).await;
    assert_eq!(quiet.code, Some(0), "{quiet:?}");
    assert!(!quiet.stderr.contains("readable by other"), "{quiet:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_data_lists_each_claim_with_its_size_before_asking() {
    let e = env().await;
    let up = e.up(&[]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let api: Api<PersistentVolumeClaim> = Api::namespaced(e.client(), NS);
    let deadline = Instant::now() + Duration::from_secs(20);
    let claims = loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        if list.len() >= 3
            && list
                .iter()
                .all(|c| c.status.as_ref().is_some_and(|s| s.capacity.is_some()))
        {
            break list;
        }
        assert!(Instant::now() < deadline, "claims not bound: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expect: Vec<(String, String)> = claims
        .iter()
        .map(|c| {
            let cap = &c.status.as_ref().unwrap().capacity.as_ref().unwrap()["storage"];
            (c.name_any(), cap.0.clone())
        })
        .collect();

    // Without a terminal: the list, then the refusal; nothing removed.
    let refused = e.onyx(&["destroy", "--data"]).await;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    let listed = line_index(&refused.stderr, "--data deletes these volumes");
    for (name, size) in &expect {
        let line = refused
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {refused:?}"));
        assert!(line.trim_end().ends_with(&format!(" {size}")), "{line}");
        assert!(line_index(&refused.stderr, name) > listed);
    }
    assert!(
        line_index(&refused.stderr, "--yes") > listed,
        "listed before the refusal: {refused:?}"
    );
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        claims.len()
    );

    // With --yes: listed, then removed.
    let gone = e.onyx(&["destroy", "--data", "--yes"]).await;
    assert_eq!(gone.code, Some(0), "{gone:?}");
    assert!(
        gone.stderr.contains("--data deletes these volumes"),
        "{gone:?}"
    );
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Without --data nothing is listed (the volumes stay).
    assert_eq!(e.up(&[]).await.code, Some(0));
    let kept = e.onyx(&["destroy", "--yes"]).await;
    assert_eq!(kept.code, Some(0), "{kept:?}");
    assert!(!kept.stderr.contains("deletes these volumes"), "{kept:?}");
}
