//! TEST FIXTURE: a stand-in for the kind node image, built in the test (the real kindest/node
//! can't be pulled here, and a privileged container can't start on these machines).
//!
//! It is a busybox rootfs whose `/sbin/init` prints systemd's "Reached target Multi-User System"
//! line and then idles, and whose `kubeadm`, `kubectl`, `crictl`, `ctr` and `containerd` are shell
//! scripts that imitate the real tools' answers and record what they were asked:
//! - `/records/calls`: every tool call, one line each, in order;
//! - `/records/kubeadm.conf.seen`: the kubeadm config as `kubeadm init` found it;
//! - `/records/cni.yaml`, `/records/storage.yaml`: what `kubectl create/apply -f -` got;
//! - `/records/import-<pid>.tar`: each stream `ctr images import -` got;
//! - `/records/boots`: one line per start of the node.
//!
//! `crictl inspecti`, `ctr images ls name==<ref>` and `ctr images tag` work on `/fake/images`
//! (lines `<config id> <name> [<target digest>]`), which the test seeds and `ctr images import`
//! adds to. They answer as containerd 1.6.20 does (checked against a real one, see
//! tests/it/node_images.rs): CRI's image ID is the config digest, while `ctr images ls` shows the
//! digest of the image's target — for a classic `docker save` stream a manifest containerd makes
//! from it (modelled here as a digest of that entry, never the config's), for the containerd
//! image store's save the index Docker reports as the image ID. A failure is injected with the
//! container env `FAKE_FAIL=<step>` (systemd, systemd-again: only after a restart, write-config,
//! kubeadm-init, taint, cni, storage, ready: never Ready, kubeconfig). The node's Ready condition
//! (`kubectl get nodes` with `lastHeartbeatTime`) is, for 2 s after a restart, the status written
//! before the stop, as the API server serves it until the kubelet posts a new one.
//!
//! [`build_with_api`] adds a control plane that answers for real: the Kubernetes API simulator's
//! standalone binary (`k8s-sim`, with the host's C libraries) runs as the API server on 6443 over
//! HTTPS, keeps its objects in `/var/lib/k8s-sim` (so they survive a stop and start, as etcd's do),
//! serves NodePort Services on the node as kube-proxy does, and sends the nginx pods' port 8080 to
//! a stand-in for nginx in the node (busybox httpd on 127.0.0.1:9080 answering `/nginx-health`
//! with `ok`). `kubeadm init` starts it and writes the admin.conf it serves for; every later boot
//! starts it again before the node reports systemd ready. The storage manifest `kubectl apply`
//! gets reaches the simulator (`--apply-dir`), so claims are provisioned by the StorageClass onyx
//! installed, under local-path-provisioner v0.0.34's rules (`k8s_sim::local_path`), their
//! directories made in the node's storage root as its helper pod makes them. The node's `K8S_SIM_FLAGS`, when set,
//! are more flags for the simulator (the cold-start bench's readiness delays).
#![allow(dead_code)]

use super::bounded::{BOUND, Bounded};

use std::path::{Path, PathBuf};

use bollard::Docker;
use sha2::{Digest, Sha256};

use super::docker::Cleanup;
use super::image_tar::{self, add, dir, link};

const INIT: &str = r#"#!/bin/sh
trap 'echo "fake init: stopping"; exit 0' TERM INT
mkdir -p /records /fake
touch /fake/images
date +%s >> /records/boots
echo "INFO: onyx test fixture: fake kind node starting"
echo "systemd 252 running in system mode (fake)"
if [ -x /usr/bin/start-api ] && [ -f /etc/kubernetes/admin.conf ]; then /usr/bin/start-api; fi
if [ "$FAKE_FAIL" = write-config ]; then rm -rf /kind; echo "not a directory" > /kind; fi
# systemd-again: systemd comes up on the first boot only (the line of that boot stays in the log).
if [ "$FAKE_FAIL" = systemd ] || { [ "$FAKE_FAIL" = systemd-again ] && [ "$(wc -l < /records/boots)" -gt 1 ]; }; then
  echo "Failed to start fake-unit.service"
else
  echo "[  OK  ] Reached target Multi-User System."
fi
while :; do sleep 1; done
"#;

const KUBEADM: &str = r#"#!/bin/sh
echo "kubeadm $*" >> /records/calls
[ "$1" = init ] || exit 0
if [ "$FAKE_FAIL" = kubeadm-init ]; then
  echo "error execution phase preflight: fake failure" >&2
  exit 1
fi
# As the real kubeadm in a kind node: preflight runs unless the InitConfiguration's skipPhases
# or --skip-phases names it, and fails in a container (kind v0.32.0
# pkg/cluster/internal/kubeadm/config.go InitSkipPhases, kubeadminit/init.go).
case " $* " in *" --skip-phases=preflight "*) skip=1 ;; *) skip=0 ;; esac
if [ $skip = 0 ] && ! awk '/^kind: InitConfiguration/{i=1} /^---/{i=0} i&&/^skipPhases:/{s=1} i&&s&&/"preflight"/{f=1} END{exit !f}' /kind/kubeadm.conf; then
  echo "[ERROR SystemVerification]: failed to parse kernel config: unable to load kernel module: \"configs\"" >&2
  echo "error execution phase preflight: [preflight] Some fatal errors occurred" >&2
  exit 1
fi
# As the kubelet from 1.35 on a cgroup v1 host: it refuses to start unless the
# KubeletConfiguration says failCgroupV1: false (kubernetes
# staging/src/k8s.io/kubelet/config/v1beta1/types.go FailCgroupV1, default true).
minor=$(sed 's/^v//' /kind/version | cut -d. -f2)
if [ ! -f /sys/fs/cgroup/cgroup.controllers ] && [ "$minor" -ge 35 ] && ! awk '/^kind: KubeletConfiguration/{k=1} /^---/{k=0} k&&/^failCgroupV1: false/{f=1} END{exit !f}' /kind/kubeadm.conf; then
  echo "[kubelet-check] The kubelet is not healthy after 4m0s" >&2
  echo "error execution phase wait-control-plane: kubelet: cgroup v1 support is unsupported" >&2
  exit 1
fi
cp /kind/kubeadm.conf /records/kubeadm.conf.seen
mkdir -p /etc/kubernetes
if [ -x /usr/bin/start-api ]; then
  /usr/bin/start-api || exit 1
elif [ "$FAKE_FAIL" != kubeconfig ]; then
cat > /etc/kubernetes/admin.conf <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: RkFLRS1DQQo=
    server: https://$(hostname):6443
  name: fake
contexts:
- context:
    cluster: fake
    user: kubernetes-admin
  name: kubernetes-admin@fake
current-context: kubernetes-admin@fake
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: RkFLRS1DRVJUCg==
    client-key-data: RkFLRS1LRVkK
EOF
fi
echo "Your Kubernetes control-plane has initialized successfully!"
"#;

const KUBECTL: &str = r#"#!/bin/sh
echo "kubectl $*" >> /records/calls
case " $* " in
  *" taint "*)
    if [ "$FAKE_FAIL" = taint ]; then echo "fake taint failure" >&2; exit 1; fi ;;
  *" create "*)
    cat > /records/cni.yaml
    if [ "$FAKE_FAIL" = cni ]; then echo "fake CNI failure" >&2; exit 1; fi ;;
  *" get storageclass standard "*)
    # The StorageClass's pathPattern, as a test seeded it (an older onyx's node).
    [ -f /records/sc-pattern ] && cat /records/sc-pattern ;;
  *" delete storageclass standard"*)
    rm -f /records/sc-pattern ;;
  *" apply "*)
    cat > /records/storage.yaml
    # The node's API server (the simulator, when there is one) applies it from here.
    mkdir -p /records/apply && cp /records/storage.yaml /records/apply/storage.yaml
    if [ "$FAKE_FAIL" = storage ]; then echo "fake storage failure" >&2; exit 1; fi ;;
  *" get nodes "*lastHeartbeatTime*)
    # The Ready condition (status|lastHeartbeatTime|reason|message). Like the API server after a
    # restart, the node's status is first the one written before the stop (its old heartbeat),
    # until the kubelet posts a new one (here: 2 s after the boot).
    if [ "$FAKE_FAIL" = ready ]; then
      echo "False|$(date -u +%Y-%m-%dT%H:%M:%SZ)|KubeletNotReady|container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
      exit 0
    fi
    boot=$(tail -n 1 /records/boots)
    if [ -f /records/heartbeat ] && [ "$(date +%s)" -lt $((boot + 2)) ]; then
      hb=$(cat /records/heartbeat)
    else
      hb=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      echo "$hb" > /records/heartbeat
    fi
    echo "True|$hb|KubeletReady|kubelet is posting ready status" ;;
  *" get nodes "*)
    if [ "$FAKE_FAIL" = ready ]; then echo "'False'"; else echo "'True'"; fi ;;
  *" get pods "*)
    if [ "$FAKE_FAIL" = ready ]; then printf 'coredns-7db6d8ff4d-x2x8k Pending\nkindnet-abcde Running\n'; fi ;;
esac
exit 0
"#;

/// The only change a test makes to the product's node spec so the node can start on these
/// machines: every capability but the withheld CAP_SYS_RESOURCE instead of `--privileged`
/// (seccomp and apparmor stay unconfined, cgroupns private, tmpfs /tmp /run, volume /var — as
/// specified).
pub fn runnable_here(mut spec: onyx::cluster::node::NodeSpec) -> onyx::cluster::node::NodeSpec {
    spec.privileged = false;
    spec.cap_add = vec!["ALL".into()];
    spec.cap_drop = vec!["SYS_RESOURCE".into()];
    spec
}

/// The stand-in control plane (see the module header); waits until the API server listens.
const START_API: &str = r#"#!/bin/sh
# K8S_SIM_FLAGS (the node's environment, unset in tests): more simulator flags, split on spaces
# and never globbed (examples/bench_node.rs passes readiness delays as compact JSON).
set -f
mkdir -p /var/lib/k8s-sim /var/log
httpd -p 127.0.0.1:9080 -h /www
kubeconfig=""
[ -f /etc/kubernetes/admin.conf ] || kubeconfig="--kubeconfig /etc/kubernetes/admin.conf"
k8s-sim --listen 0.0.0.0 --port 6443 --tls-dir /etc/kubernetes/pki --san "$(hostname)" \
  $kubeconfig --server "https://$(hostname):6443" --state /var/lib/k8s-sim/state.json \
  --node-ports 0.0.0.0 --ready-delay-ms 300 --apply-dir /records/apply --make-volume-dirs \
  --forward '{"target":{"labels":"app.kubernetes.io/name=nginx"},"containerPort":8080,"local":"127.0.0.1:9080"}' \
  $K8S_SIM_FLAGS >> /var/log/k8s-sim.log 2>&1 &
echo "start-api $!" >> /records/calls
i=0
# 6443 is 192B in /proc/net/tcp; 0A is LISTEN.
until grep -q ':192B 00000000:0000 0A' /proc/net/tcp && [ -f /etc/kubernetes/admin.conf ]; do
  i=$((i+1)); [ $i -gt 100 ] && { echo "the API server did not start" >&2; cat /var/log/k8s-sim.log >&2; exit 1; }
  sleep 0.1
done
"#;

const CRICTL: &str = r#"#!/bin/sh
echo "crictl $*" >> /records/calls
[ "$1" = inspecti ] || exit 0
id=$(awk -v q="$2" '$1==q || $2==q {print $1; exit}' /fake/images)
if [ -z "$id" ]; then echo "no such image \"$2\" present" >&2; exit 1; fi
tags=$(awk -v id="$id" 'BEGIN{sep=""} $1==id && $2!="" {printf "%s\"%s\"", sep, $2; sep=","}' /fake/images)
printf '{"status":{"id":"%s","repoTags":[%s]}}\n' "$id" "$tags"
"#;

const CTR: &str = r#"#!/bin/sh
echo "ctr $*" >> /records/calls
# containerd's name for an image: docker.io/ (and library/) spelled out.
cri() {
  case "$1" in
    */*) case "${1%%/*}" in *.*|*:*|localhost) echo "$1" ;; *) echo "docker.io/$1" ;; esac ;;
    *) echo "docker.io/library/$1" ;;
  esac
}
case " $* " in
  *" images import "*)
    f=/records/import-$$.tar
    cat > "$f"
    # Remember what was imported (config ID and names, from the stream's manifest.json), so
    # crictl finds it afterwards as containerd would; the target is the manifest containerd
    # makes from the entry (a digest of its own, not the config's).
    tar -xOf "$f" manifest.json 2>/dev/null | sed 's/},{/}\n{/g' | while read -r entry; do
      id=$(echo "$entry" | sed -n 's/.*"Config":"[^"]*\([0-9a-f]\{64\}\)[^"]*".*/\1/p')
      tags=$(echo "$entry" | sed -n 's/.*"RepoTags":\[\([^]]*\)\].*/\1/p' | tr ',' ' ' | tr -d '"')
      [ -n "$id" ] || continue
      target=$(printf 'manifest of %s' "$entry" | sha256sum | cut -d' ' -f1)
      for t in $tags; do echo "sha256:$id $(cri "$t") sha256:$target" >> /fake/images; done
    done ;;
  *" images tag "*)
    prev=""; last=""
    for a in "$@"; do prev=$last; last=$a; done
    target=$(awk -v q="$prev" '($1==q || $2==q) && $3!="" {print $3; exit}' /fake/images)
    echo "$prev $last $target" >> /fake/images ;;
  *" images ls "*)
    # `ctr images ls name==REF`: a header, then REF TYPE DIGEST SIZE PLATFORMS LABELS.
    q=""
    for a in "$@"; do case "$a" in name==*) q=${a#name==} ;; esac; done
    echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"
    awk -v q="$q" '$2==q && $3!="" {print $2, "application/vnd.docker.distribution.manifest.v2+json", $3, "1.0 MiB", "linux/amd64", "io.cri-containerd.image=managed"; exit}' /fake/images ;;
esac
exit 0
"#;

const CONTAINERD: &str = r#"#!/bin/sh
echo "containerd $*" >> /records/calls
cat <<'EOF'
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
EOF
"#;

/// kind's kindnet manifest in small: both of kind's markers, the pod subnet template field.
pub const CNI: &str = include_str!("../fixtures/kindnet.yaml");

/// kind's local-path storage manifest in small.
pub const STORAGE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: local-path-storage
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  namespace: kube-system
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
";

/// Build the fake node image as `onyx-test/fake-kind-node:<tag>` (and, when `broken_entrypoint`,
/// with an entrypoint that doesn't exist, so the container can't start). Removed by `cleanup`.
pub async fn build(
    docker: &Docker,
    cleanup: &Cleanup,
    tag: &str,
    broken_entrypoint: bool,
) -> String {
    build_version(docker, cleanup, tag, broken_entrypoint, "v1.36.1").await
}

/// [`build`] with the Kubernetes version the node image claims in `/kind/version`.
pub async fn build_version(
    docker: &Docker,
    cleanup: &Cleanup,
    tag: &str,
    broken_entrypoint: bool,
    kubernetes_version: &str,
) -> String {
    build_image(
        docker,
        cleanup,
        tag,
        broken_entrypoint,
        kubernetes_version,
        None,
    )
    .await
}

/// [`build`] with the simulator binary at `sim` as the node's API server (module header).
pub async fn build_with_api(docker: &Docker, cleanup: &Cleanup, tag: &str, sim: &Path) -> String {
    build_image(docker, cleanup, tag, false, "v1.36.1", Some(sim)).await
}

/// The simulator's standalone binary beside this test's (`cargo test --workspace` builds it,
/// since k8s-sim has tests of its own).
pub fn sim_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("k8s-sim");
    p.is_file().then_some(p)
}

/// The shared libraries a dynamically linked binary needs, as `ldd` lists them (absolute paths).
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = std::process::Command::new("ldd")
        .arg(bin)
        .output_within(BOUND)
        .expect("ldd (libc-bin)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

async fn build_image(
    docker: &Docker,
    cleanup: &Cleanup,
    tag: &str,
    broken_entrypoint: bool,
    kubernetes_version: &str,
    sim: Option<&Path>,
) -> String {
    let reference = format!("onyx-test/fake-kind-node:{tag}");
    let mut layer = tar::Builder::new(Vec::new());
    for d in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "kind",
        "kind/manifests",
        "etc",
        "etc/kubernetes",
        "records",
        "fake",
        "tmp",
        "run",
        "var",
        "proc",
        "sys",
        "dev",
    ] {
        dir(&mut layer, d);
    }
    if let Some(sim) = sim {
        for d in ["usr/local", "usr/local/bin", "www"] {
            dir(&mut layer, d);
        }
        let mut made_dirs = std::collections::HashSet::new();
        add(
            &mut layer,
            "usr/local/bin/k8s-sim",
            &std::fs::read(sim).expect("the k8s-sim binary"),
            0o755,
        );
        for lib in libraries(sim) {
            let mut made = PathBuf::new();
            let parent = lib.parent().unwrap().strip_prefix("/").unwrap();
            for part in parent.components() {
                made.push(part);
                if made_dirs.insert(made.clone()) {
                    dir(&mut layer, made.to_str().unwrap());
                }
            }
            let data = std::fs::read(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
            add(
                &mut layer,
                lib.strip_prefix("/").unwrap().to_str().unwrap(),
                &data,
                0o755,
            );
        }
        add(&mut layer, "usr/bin/start-api", START_API.as_bytes(), 0o755);
        add(&mut layer, "www/nginx-health", b"ok\n", 0o644);
        add(
            &mut layer,
            "www/index.html",
            b"<html><title>Onyx (stand-in for nginx)</title></html>\n",
            0o644,
        );
    }
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    add(&mut layer, "bin/busybox", &busybox, 0o755);
    for applet in [
        "sh",
        "cat",
        "cp",
        "mkdir",
        "echo",
        "sleep",
        "rm",
        "touch",
        "ls",
        "awk",
        "date",
        "printf",
        "hostname",
        "grep",
        "wc",
        "head",
        "tail",
        "httpd",
        "mv",
        "tar",
        "sed",
        "tr",
        "sha256sum",
        "cut",
    ] {
        link(&mut layer, &format!("bin/{applet}"), "busybox");
    }
    add(&mut layer, "etc/hostname", b"fake\n", 0o644);
    add(&mut layer, "sbin/init", INIT.as_bytes(), 0o755);
    add(&mut layer, "usr/bin/kubeadm", KUBEADM.as_bytes(), 0o755);
    add(&mut layer, "usr/bin/kubectl", KUBECTL.as_bytes(), 0o755);
    add(&mut layer, "usr/bin/crictl", CRICTL.as_bytes(), 0o755);
    add(&mut layer, "usr/bin/ctr", CTR.as_bytes(), 0o755);
    add(
        &mut layer,
        "usr/bin/containerd",
        CONTAINERD.as_bytes(),
        0o755,
    );
    add(
        &mut layer,
        "kind/version",
        format!("{kubernetes_version}\n").as_bytes(),
        0o644,
    );
    add(
        &mut layer,
        "kind/manifests/default-cni.yaml",
        CNI.as_bytes(),
        0o644,
    );
    add(
        &mut layer,
        "kind/manifests/default-storage.yaml",
        STORAGE.as_bytes(),
        0o644,
    );
    let layer = layer.into_inner().unwrap();
    let entrypoint = if broken_entrypoint {
        "/sbin/no-such-init"
    } else {
        "/sbin/init"
    };
    let (archive, _) = image_tar::docker_save(
        &reference,
        &layer,
        serde_json::json!({
            "config": {
                "Entrypoint": [entrypoint],
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
                "Labels": {"org.onyx.test-fixture": "fake kind node"},
            },
            "history": [{"created_by": "onyx test fixture: fake kind node"}],
        }),
    );
    image_tar::import(docker, archive, "the fake node image").await;
    cleanup.add(&reference);
    reference
}

/// Whether the fixture can be built (it needs a static busybox at /bin/busybox, which
/// scripts/test.sh installs); prints SKIPPED, or panics under CI / ONYX_REQUIRE_*.
pub fn available(test: &str) -> bool {
    if std::path::Path::new("/bin/busybox").is_file() {
        return true;
    }
    if super::required(super::Part::Docker) {
        panic!("{test}: /bin/busybox (busybox-static) is required here (CI/ONYX_REQUIRE_*)");
    }
    super::skipped(&format!("no /bin/busybox for the fake node image ({test})"));
    false
}

/// `crictl inspecti` over a real containerd's records, for the real-containerd node below (the
/// node image's crictl can't be had here). It answers from what containerd 1.6.20 itself keeps:
/// its CRI plugin names every image it manages `sha256:<config digest>` as well, so the config
/// digest of a name is the `sha256:` ref sharing the name's target, and the repo tags of an ID are
/// the other refs sharing its target (not `sha256:…`, not `…@sha256:…`), as CRI reports them.
const REAL_CRICTL: &str = r#"#!/bin/sh
[ "$1" = inspecti ] || exit 0
ls=$(ctr --namespace=k8s.io images ls) || exit 1
target=$(echo "$ls" | awk -v q="$2" 'NR>1 && $1==q {print $3; exit}')
if [ -z "$target" ]; then echo "no such image \"$2\" present" >&2; exit 1; fi
id=$(echo "$ls" | awk -v t="$target" 'NR>1 && $3==t && $1 ~ /^sha256:/ {print $1; exit}')
[ -n "$id" ] || { echo "no such image \"$2\" present" >&2; exit 1; }
tags=$(echo "$ls" | awk -v t="$target" 'BEGIN{sep=""} NR>1 && $3==t && $1 !~ /^sha256:/ && $1 !~ /@sha256:/ {printf "%s\"%s\"", sep, $1; sep=","}')
printf '{"status":{"id":"%s","repoTags":[%s]}}\n' "$id" "$tags"
"#;

/// A node image whose containerd is real: Debian's containerd and ctr (with the C library they
/// link), busybox for a shell, and [`REAL_CRICTL`]. Its entrypoint is containerd with a config of
/// version 2 naming the snapshotter overlayfs, as kind's node image's; socket /run/containerd. `None` when
/// the host has no /usr/bin/containerd. Removed by `cleanup`.
pub async fn build_real_containerd(
    docker: &Docker,
    cleanup: &Cleanup,
    tag: &str,
) -> Option<String> {
    let containerd = Path::new("/usr/bin/containerd");
    let ctr = Path::new("/usr/bin/ctr");
    if !containerd.is_file() || !ctr.is_file() {
        return None;
    }
    let reference = format!("onyx-test/real-containerd-node:{tag}");
    let mut layer = tar::Builder::new(Vec::new());
    for d in [
        "bin",
        "usr",
        "usr/bin",
        "etc",
        "etc/containerd",
        "tmp",
        "run",
        "var",
        "proc",
        "sys",
        "dev",
    ] {
        dir(&mut layer, d);
    }
    // Version 2 with the CRI plugin's snapshotter, as the kind node image's config has it.
    add(
        &mut layer,
        "etc/containerd/config.toml",
        b"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n",
        0o644,
    );
    let mut made_dirs = std::collections::HashSet::new();
    for bin in [containerd, ctr] {
        for lib in libraries(bin) {
            let mut made = PathBuf::new();
            for part in lib
                .parent()
                .unwrap()
                .strip_prefix("/")
                .unwrap()
                .components()
            {
                made.push(part);
                if made_dirs.insert(made.clone()) {
                    dir(&mut layer, made.to_str().unwrap());
                }
            }
            let path = lib.strip_prefix("/").unwrap().to_str().unwrap().to_string();
            if made_dirs.insert(PathBuf::from(&path)) {
                add(&mut layer, &path, &std::fs::read(&lib).unwrap(), 0o755);
            }
        }
        let path = bin.strip_prefix("/").unwrap().to_str().unwrap();
        add(&mut layer, path, &std::fs::read(bin).unwrap(), 0o755);
    }
    let busybox = std::fs::read("/bin/busybox").ok()?;
    add(&mut layer, "bin/busybox", &busybox, 0o755);
    for applet in ["sh", "awk", "cat", "echo", "printf", "ls", "tar"] {
        link(&mut layer, &format!("bin/{applet}"), "busybox");
    }
    add(&mut layer, "usr/bin/crictl", REAL_CRICTL.as_bytes(), 0o755);
    let layer = layer.into_inner().unwrap();
    let (archive, _) = image_tar::docker_save(
        &reference,
        &layer,
        serde_json::json!({
            "config": {
                "Entrypoint": ["/usr/bin/containerd"],
                "Env": ["PATH=/usr/bin:/bin"],
                "Labels": {"org.onyx.test-fixture": "real containerd node"},
            },
        }),
    );
    image_tar::import(docker, archive, "the real containerd node image").await;
    cleanup.add(&reference);
    Some(reference)
}

/// An image as the containerd image store's `docker save` writes it (an OCI layout: `index.json`
/// naming the image's index with `io.containerd.image.name`, the index → one manifest → config and
/// layer blobs, plus Docker's `manifest.json`), from one layer. Returns the archive, the index's
/// digest (what that engine reports as the image ID) and the config's digest (what CRI reports).
pub fn oci_archive(name: &str, layer: &[u8]) -> (Vec<u8>, String, String) {
    let digest = |b: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(b)));
    let arch = std::env::consts::ARCH
        .replace("x86_64", "amd64")
        .replace("aarch64", "arm64");
    let layer_digest = digest(layer);
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_digest = digest(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let manifest_digest = digest(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(), "platform": {"architecture": arch, "os": "linux"}}],
    })
    .to_string();
    let index_digest = digest(index.as_bytes());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len(),
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(':').next().unwrap()}}],
    })
    .to_string();
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let mut b = tar::Builder::new(Vec::new());
    add(
        &mut b,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        0o644,
    );
    add(&mut b, &blob(&layer_digest), layer, 0o644);
    add(&mut b, &blob(&config_digest), config.as_bytes(), 0o644);
    add(&mut b, &blob(&manifest_digest), manifest.as_bytes(), 0o644);
    add(&mut b, &blob(&index_digest), index.as_bytes(), 0o644);
    add(&mut b, "index.json", top.as_bytes(), 0o644);
    let docker_manifest = serde_json::json!([{
        "Config": blob(&config_digest), "RepoTags": [name], "Layers": [blob(&layer_digest)],
    }])
    .to_string();
    add(&mut b, "manifest.json", docker_manifest.as_bytes(), 0o644);
    (b.into_inner().unwrap(), index_digest, config_digest)
}
