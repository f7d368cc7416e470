//! Pod Security (issue #20 item 8): the level the rendered pods need, computed from them with the
//! Pod Security Standards' checks (kubernetes `staging/src/k8s.io/pod-security-admission/policy/`:
//! `check_runAsNonRoot.go`, `check_runAsUser.go`, `check_allowPrivilegeEscalation.go`,
//! `check_capabilities_restricted.go`, `check_seccompProfile_restricted.go` for `restricted`;
//! `check_privileged.go`, `check_hostNamespaces.go`, `check_hostPathVolumes.go`,
//! `check_hostPorts.go`, `check_capabilities_baseline.go` for `baseline`), and the claim
//! `render --help` and README make must name that level and why.

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::every_stack;

/// Why a pod (or one of its containers) is not `restricted`, if it is not.
fn not_restricted(pod: &PodSpec, c: &Container) -> Option<String> {
    let psc = pod.security_context.as_ref();
    let sc = c.security_context.as_ref();
    let non_root = sc
        .and_then(|s| s.run_as_non_root)
        .or(psc.and_then(|p| p.run_as_non_root));
    if non_root != Some(true) {
        return Some("runAsNonRoot is not true".into());
    }
    let uid = sc
        .and_then(|s| s.run_as_user)
        .or(psc.and_then(|p| p.run_as_user));
    if uid == Some(0) {
        return Some("runAsUser 0".into());
    }
    if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
        return Some("allowPrivilegeEscalation is not false".into());
    }
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    if !caps
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|d| d.iter().any(|x| x == "ALL"))
    {
        return Some("capabilities do not drop ALL".into());
    }
    let seccomp = sc
        .and_then(|s| s.seccomp_profile.as_ref())
        .or(psc.and_then(|p| p.seccomp_profile.as_ref()));
    if !seccomp.is_some_and(|s| s.type_ == "RuntimeDefault" || s.type_ == "Localhost") {
        return Some("no RuntimeDefault seccomp profile".into());
    }
    None
}

/// Why a pod is not `baseline`, if it is not.
fn not_baseline(pod: &PodSpec, c: &Container) -> Option<String> {
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        return Some("host namespaces".into());
    }
    if pod.volumes.iter().flatten().any(|v| v.host_path.is_some()) {
        return Some("hostPath volume".into());
    }
    let sc = c.security_context.as_ref();
    if sc.and_then(|s| s.privileged) == Some(true) {
        return Some("privileged".into());
    }
    if c.ports
        .iter()
        .flatten()
        .any(|p| p.host_port.is_some_and(|h| h != 0))
    {
        return Some("hostPort".into());
    }
    // check_capabilities_baseline.go: only the default set may be added.
    const DEFAULT_CAPS: &[&str] = &[
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    if sc
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|c| c.add.as_ref())
        .is_some_and(|a| a.iter().any(|x| !DEFAULT_CAPS.contains(&x.as_str())))
    {
        return Some("capabilities added".into());
    }
    None
}

/// The level every profile's pods need is `baseline`, for exactly the root containers the help
/// names; and `render --help` and README say so (and no longer promise OpenShift's default).
#[test]
fn the_stack_needs_pod_security_baseline_and_says_so() {
    let mut restricted = true;
    for s in every_stack() {
        let mut not_restricted_by: Vec<String> = Vec::new();
        for (service, pod) in s.pods() {
            for c in pod
                .init_containers
                .iter()
                .flatten()
                .chain(pod.containers.iter())
            {
                assert_eq!(
                    not_baseline(pod, c),
                    None,
                    "{}: {service}/{} is not baseline",
                    s.label,
                    c.name
                );
                if let Some(why) = not_restricted(pod, c) {
                    not_restricted_by.push(format!("{service}/{}: {why}", c.name));
                }
            }
        }
        let indexing = s.objects.iter().any(|r| r.service == Some("background"));
        let mut expected = vec!["api-server/image-caches: runAsNonRoot is not true".to_string()];
        if indexing {
            expected.insert(0, "background/background: runAsNonRoot is not true".into());
        }
        restricted &= not_restricted_by.is_empty();
        not_restricted_by.sort();
        expected.sort();
        assert_eq!(not_restricted_by, expected, "{}", s.label);
    }
    // The level computed above (every pod baseline, not every one restricted) is the one the
    // namespace `up` creates is labelled with.
    let level = if restricted { "restricted" } else { "baseline" };
    assert_eq!(onyx::kube::POD_SECURITY_LEVEL, level);
    let labels = onyx::kube::pod_security_labels();
    for mode in ["enforce", "warn", "audit"] {
        assert_eq!(
            labels.get(&format!("pod-security.kubernetes.io/{mode}")),
            Some(&level.to_string()),
            "{labels:?}"
        );
    }

    let home = tempfile::tempdir().unwrap();
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_onyx"))
        .args(["render", "--help"])
        .env_clear()
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env("ONYX_NO_UPDATE_CHECK", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("onyx runs");
    let help = String::from_utf8_lossy(&help.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in [
        "Pod Security level `baseline`",
        "not `restricted`",
        "image-caches",
        "background workers run as root",
        "`anyuid`",
        "not `restricted-v2`",
    ] {
        assert!(
            help.contains(claim),
            "render --help lacks {claim:?}: {help}"
        );
    }
    let readme = include_str!("../../../README.md");
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in [
        "Pod Security level `baseline`",
        "`image-caches` init container",
        "`anyuid`",
        "`restricted-v2`",
    ] {
        assert!(readme.contains(claim), "README lacks {claim:?}");
    }
}
