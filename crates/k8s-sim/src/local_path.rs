//! Where rancher local-path-provisioner v0.0.34 puts a claim's volume, and when it refuses to:
//! the provisioner kind v0.32.0's node image runs (`kindest/local-path-provisioner`, built from
//! v0.0.34: kind `images/local-path-provisioner/Makefile`, `pkg/build/nodeimage/const_storage.go`).
//! The simulator's PVC controller follows it for StorageClasses of provisioner
//! `rancher.io/local-path`, and tests use it to know which directory of the node's storage root a
//! claim's data lands in — so a pattern the real provisioner would refuse leaves the claim
//! Pending here too, and a test's "data survives" check looks where the data really is.
//!
//! The rules, from v0.0.34 `provisioner.go`:
//! - `provisionFor`: without `pathPattern` the folder is `<pv name>_<namespace>_<claim>`; with
//!   it, [`path_from_pattern`], then (unless `allowUnsafePathPattern`) `filepath.IsLocal` must hold
//!   ("folder path contains invalid references"); the volume's path is
//!   `filepath.Join(basePath, folder)`, which drops a trailing `/`.
//! - `pathFromPattern`: the pattern is a Go `text/template` over `{PVName, PVC: ObjectMeta}`;
//!   unless unsafe paths are allowed, the rendered path must start with
//!   `filepath.Join(namespace, name) + "/"`.
//! - The base path: `config.json`'s `nodePathMap` entry `DEFAULT_PATH_FOR_NON_LISTED_NODES`
//!   (kind's: `/var/local-path-provisioner`).
//!
//! The template language is a subset: actions that are one field chain (`{{ .PVName }}`,
//! `{{ .PVC.Namespace }}`, `{{ .PVC.Name }}`, `{{ .PVC.UID }}`, `{{ .PVC.Labels.k }}`,
//! `{{ .PVC.Annotations.k }}`, with `{{-`/`-}}` trimming); anything else is refused with a
//! message saying the simulator doesn't know it (the real one may accept it).

use serde_json::Value;

/// The provisioner name of local-path's StorageClasses.
pub const PROVISIONER: &str = "rancher.io/local-path";
/// kind's node path for every node (`const_storage.go`'s `local-path-config`).
pub const KIND_ROOT: &str = "/var/local-path-provisioner";

/// The directory of a claim's volume: `base` joined with the folder v0.0.34 computes, or the
/// provisioner's error (the text the provisioner wraps into its `ProvisioningFailed` event).
/// `parameters` are the StorageClass's, `pvc` the claim (its metadata is what the template sees).
pub fn volume_path(
    base: &str,
    parameters: &Value,
    pv_name: &str,
    pvc: &Value,
) -> Result<String, String> {
    let ns = pvc["metadata"]["namespace"].as_str().unwrap_or("");
    let name = pvc["metadata"]["name"].as_str().unwrap_or("");
    let folder = match parameters["pathPattern"].as_str() {
        None => format!("{pv_name}_{ns}_{name}"),
        Some(pattern) => {
            let unsafe_ok = parameters["allowUnsafePathPattern"]
                .as_str()
                .map(|v| parse_bool(v).unwrap_or(false))
                .unwrap_or(false);
            let folder = path_from_pattern(pattern, pv_name, pvc, unsafe_ok)
                .map_err(|e| format!("failed to create path from pattern {pattern}: {e}"))?;
            if !unsafe_ok && !is_local(&folder) {
                return Err(format!("folder path contains invalid references: {folder}"));
            }
            folder
        }
    };
    Ok(join(base, &folder))
}

/// v0.0.34 `pathFromPattern`.
pub fn path_from_pattern(
    pattern: &str,
    pv_name: &str,
    pvc: &Value,
    allow_unsafe: bool,
) -> Result<String, String> {
    let path = render(pattern, pv_name, pvc)?;
    if allow_unsafe {
        return Ok(path);
    }
    let ns = pvc["metadata"]["namespace"].as_str().unwrap_or("");
    let name = pvc["metadata"]["name"].as_str().unwrap_or("");
    let prefix = format!("{}/", join(ns, name));
    if !path.starts_with(&prefix) {
        return Err(format!(
            "pathPattern must start with {{{{ .PVC.Namespace }}}}/{{{{ .PVC.Name }}}}/: {path}"
        ));
    }
    Ok(path)
}

/// The base path for a node from local-path's `config.json` (`nodePathMap`, the
/// `DEFAULT_PATH_FOR_NON_LISTED_NODES` entry's first path); kind's when it can't be read.
pub fn base_path(config_json: Option<&str>) -> String {
    config_json
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|c| {
            c["nodePathMap"].as_array().and_then(|m| {
                m.iter()
                    .find(|e| e["node"] == "DEFAULT_PATH_FOR_NON_LISTED_NODES")
                    .and_then(|e| e["paths"][0].as_str().map(str::to_string))
            })
        })
        .unwrap_or_else(|| KIND_ROOT.to_string())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The template subset of the module header.
fn render(pattern: &str, pv_name: &str, pvc: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        let after = &rest[start + 2..];
        let (trim_left, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_left {
            text = text.trim_end();
        }
        out.push_str(text);
        let end = after
            .find("}}")
            .ok_or_else(|| "template: pathPattern: unclosed action".to_string())?;
        let mut action = &after[..end];
        rest = &after[end + 2..];
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
            rest = rest.trim_start();
        }
        out.push_str(&field(action.trim(), pv_name, pvc)?);
    }
    out.push_str(rest);
    Ok(out)
}

fn field(action: &str, pv_name: &str, pvc: &Value) -> Result<String, String> {
    let refuse = || {
        format!(
            "template: pathPattern: executing \"pathPattern\" at <{action}>: not in the \
             simulator's subset of text/template (one field chain of PVName or PVC)"
        )
    };
    let can_not = |f: &str| {
        format!(
            "template: pathPattern: executing \"pathPattern\" at <{action}>: can't evaluate field {f}"
        )
    };
    let chain: Vec<&str> = action
        .strip_prefix('.')
        .ok_or_else(refuse)?
        .split('.')
        .collect();
    if chain
        .iter()
        .any(|p| p.is_empty() || p.contains(char::is_whitespace))
    {
        return Err(refuse());
    }
    let meta = &pvc["metadata"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    match chain.as_slice() {
        ["PVName"] => Ok(pv_name.to_string()),
        ["PVC", "Name"] => Ok(s(&meta["name"])),
        ["PVC", "Namespace"] => Ok(s(&meta["namespace"])),
        ["PVC", "UID"] => Ok(s(&meta["uid"])),
        ["PVC", "GenerateName"] => Ok(s(&meta["generateName"])),
        // A missing map key prints Go's "<no value>".
        ["PVC", "Labels", k] => Ok(meta["labels"][*k]
            .as_str()
            .map_or("<no value>".into(), str::to_string)),
        ["PVC", "Annotations", k] => Ok(meta["annotations"][*k]
            .as_str()
            .map_or("<no value>".into(), str::to_string)),
        ["PVC", f, ..] | [f, ..] => Err(can_not(f)),
        [] => Err(refuse()),
    }
}

/// Go's `filepath.Join` on Unix: the non-empty parts joined by `/`, then cleaned.
pub fn join(a: &str, b: &str) -> String {
    let joined = match (a.is_empty(), b.is_empty()) {
        (true, true) => return String::new(),
        (true, false) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}/{b}"),
    };
    clean(&joined)
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `filepath.IsLocal` on Unix: not empty, not absolute, and not leaving the directory.
pub fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let c = clean(p);
    c != ".." && !c.starts_with("../")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "uid": "u-1", "labels": {"app": "pg"}}})
    }

    #[test]
    fn the_pattern_must_start_with_namespace_and_name_and_a_slash() {
        let pvc = claim("onyx", "data-postgresql-0");
        let p = |pattern: &str| json!({"pathPattern": pattern});
        // onyx's pattern before issue #20: refused by v0.0.34, the claim stays Pending.
        assert_eq!(
            volume_path(
                KIND_ROOT,
                &p("{{ .PVC.Namespace }}/{{ .PVC.Name }}"),
                "pvc-u-1",
                &pvc
            )
            .unwrap_err(),
            "failed to create path from pattern {{ .PVC.Namespace }}/{{ .PVC.Name }}: \
             pathPattern must start with {{ .PVC.Namespace }}/{{ .PVC.Name }}/: onyx/data-postgresql-0"
        );
        // The trailing `/`: accepted, and filepath.Join drops it — the same directory.
        assert_eq!(
            volume_path(
                KIND_ROOT,
                &p("{{ .PVC.Namespace }}/{{ .PVC.Name }}/"),
                "pvc-u-1",
                &pvc
            )
            .unwrap(),
            "/var/local-path-provisioner/onyx/data-postgresql-0"
        );
        // Deeper paths, trimming, labels (the README of v0.0.34 shows these forms).
        assert_eq!(
            volume_path(
                "/data",
                &p("{{- .PVC.Namespace -}}/{{ .PVC.Name }}/{{ .PVC.Labels.app }}"),
                "pvc-u-1",
                &pvc
            )
            .unwrap(),
            "/data/onyx/data-postgresql-0/pg"
        );
        // Another claim's directory is refused, so is climbing out of the base path; climbing
        // back inside it passes both checks (the prefix is checked before cleaning), as in v0.0.34.
        assert!(volume_path("/d", &p("onyx/other/x"), "pvc-u-1", &pvc).is_err());
        let ns_name = "{{ .PVC.Namespace }}/{{ .PVC.Name }}";
        assert!(
            volume_path("/d", &p(&format!("{ns_name}/../../../x")), "v", &pvc)
                .unwrap_err()
                .starts_with("folder path contains invalid references")
        );
        assert_eq!(
            volume_path("/d", &p(&format!("{ns_name}/../../x")), "v", &pvc).unwrap(),
            "/d/x"
        );
        // allowUnsafePathPattern lifts both.
        let unsafe_ok = json!({"pathPattern": "shared", "allowUnsafePathPattern": "true"});
        assert_eq!(
            volume_path("/d", &unsafe_ok, "v", &pvc).unwrap(),
            "/d/shared"
        );
        // No pattern: `<pv>_<ns>_<claim>`.
        assert_eq!(
            volume_path(KIND_ROOT, &json!({}), "pvc-u-1", &pvc).unwrap(),
            "/var/local-path-provisioner/pvc-u-1_onyx_data-postgresql-0"
        );
        // An unknown field fails as text/template does.
        assert!(
            volume_path("/d", &p("{{ .PVC.Nope }}/"), "v", &pvc)
                .unwrap_err()
                .contains("can't evaluate field Nope")
        );
    }

    #[test]
    fn go_path_helpers() {
        assert_eq!(join("a", "b/"), "a/b");
        assert_eq!(join("/r", "a/./b//c/"), "/r/a/b/c");
        assert_eq!(clean("a/../.."), "..");
        assert!(is_local("a/b/"));
        assert!(!is_local("a/../../b"));
        assert!(!is_local("/a"));
        assert_eq!(base_path(None), KIND_ROOT);
        assert_eq!(
            base_path(Some(
                r#"{"nodePathMap":[{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/opt/x"]}]}"#
            )),
            "/opt/x"
        );
    }
}
