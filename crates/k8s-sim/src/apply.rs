//! Patches and server-side apply, with `managedFields` bookkeeping.
//!
//! Server-side apply is how onyx (and `kubectl apply --server-side`) writes objects, so the
//! simulator models its observable rules:
//! 1. the body (YAML or JSON) is the manager's full intent; the object is created if missing;
//! 2. fields the manager set before and no longer sets are removed (unless another manager owns
//!    them); fields it sets are merged in;
//! 3. a field another manager owns with a different value is a `409 Conflict` unless `force`,
//!    which moves the ownership;
//! 4. `metadata.managedFields` lists each manager, its operation (`Apply` / `Update`) and its
//!    fields as `FieldsV1`.
//!
//! Lists whose elements carry a merge key (containers, env, volumes by `name`, volume mounts by
//! `mountPath`, ports by number and protocol, owner references by `uid`) are merged and owned
//! element by element (`k:{...}` in FieldsV1); other lists are atomic.
//!
//! Simplifications (stated in README): merge keys are recognised by field name, not from the
//! schema; set-like lists of scalars (`finalizers`) are atomic; strategic merge patch knows keyed
//! lists and `$patch: delete`, no other directives.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::store::now_rfc3339;

type Path = Vec<String>;

/// Fields set by an object body, as `FieldsV1` path components: `f:<field>` for a map key,
/// `k:{"name":"x"}` for a list element found by its merge key (with a `.` entry for the element
/// itself), leaves for scalars, empty maps and lists without merge keys (atomic lists).
/// Server-owned metadata and the type header are not fields anyone manages.
pub fn field_set(obj: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if k == "apiVersion" || k == "kind" {
                continue;
            }
            if k == "metadata" {
                if let Some(mm) = v.as_object() {
                    for (mk, mv) in mm {
                        if matches!(
                            mk.as_str(),
                            "labels" | "annotations" | "finalizers" | "ownerReferences"
                        ) {
                            walk(mv, vec![format!("f:{k}"), format!("f:{mk}")], &mut out);
                        }
                    }
                }
                continue;
            }
            walk(v, vec![format!("f:{k}")], &mut out);
        }
    }
    out
}

/// The merge key of a list element, as the API's list types define them for the lists the
/// stack uses (containers, env, volumes by `name`; volume mounts by `mountPath`; ports by number
/// and protocol; owner references by `uid`).
fn merge_key(elem: &Value) -> Option<Value> {
    let m = elem.as_object()?;
    if let Some(uid) = m.get("uid").and_then(Value::as_str) {
        return Some(json!({"uid": uid}));
    }
    if let Some(p) = m.get("mountPath").and_then(Value::as_str) {
        return Some(json!({"mountPath": p}));
    }
    for port in ["containerPort", "port"] {
        if let Some(n) = m.get(port).and_then(Value::as_i64) {
            let proto = m.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            return Some(json!({port: n, "protocol": proto}));
        }
    }
    m.get("name")
        .and_then(Value::as_str)
        .map(|n| json!({"name": n}))
}

/// Keys of every element when all elements have distinct merge keys.
fn keyed(list: &[Value]) -> Option<Vec<String>> {
    let keys: Vec<String> = list
        .iter()
        .map(|e| merge_key(e).map(|k| format!("k:{k}")))
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&String> = keys.iter().collect();
    (unique.len() == keys.len()).then_some(keys)
}

fn walk(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                walk(c, p, out);
            }
        }
        Value::Array(list) if !list.is_empty() => match keyed(list) {
            Some(keys) => {
                for (key, elem) in keys.into_iter().zip(list) {
                    let mut p = path.clone();
                    p.push(key);
                    let mut marker = p.clone();
                    marker.push(".".into());
                    out.insert(marker);
                    walk(elem, p, out);
                }
            }
            None => {
                out.insert(path);
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// `FieldsV1` (`{"f:spec":{"f:replicas":{}}}`) from a set of paths.
pub fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut cur = &mut root;
        for part in p {
            cur = cur
                .entry(part.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fields are objects");
        }
    }
    Value::Object(root)
}

pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn rec(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, c) in m {
                    let mut p = path.clone();
                    p.push(k.clone());
                    rec(c, p, out);
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    rec(v, Vec::new(), &mut out);
    out
}

fn element_index(list: &[Value], key: &str) -> Option<usize> {
    list.iter()
        .position(|e| merge_key(e).is_some_and(|k| format!("k:{k}") == key))
}

fn get_path<'a>(v: &'a Value, p: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for part in p {
        if part == "." {
            continue;
        }
        cur = if let Some(f) = part.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let list = cur.as_array()?;
            &list[element_index(list, part)?]
        };
    }
    Some(cur)
}

fn remove_path(v: &mut Value, p: &[String]) {
    let p: Vec<&String> = p.iter().filter(|c| c.as_str() != ".").collect();
    let Some((last, parents)) = p.split_last() else {
        return;
    };
    let mut cur = v;
    for part in parents {
        let next = if let Some(f) = part.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            match cur.as_array_mut() {
                Some(list) => match element_index(list, part) {
                    Some(i) => list.get_mut(i),
                    None => None,
                },
                None => None,
            }
        };
        match next {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(list) = cur.as_array_mut()
        && let Some(i) = element_index(list, last)
    {
        list.remove(i);
    }
}

/// `.spec.template.spec.containers[name="api"].image` style, for conflict messages.
fn readable(p: &[String]) -> String {
    p.iter()
        .filter(|c| c.as_str() != ".")
        .map(|c| match c.strip_prefix("f:") {
            Some(f) => format!(".{f}"),
            None => c
                .strip_prefix("k:")
                .map(|k| format!("[{k}]"))
                .unwrap_or_default(),
        })
        .collect()
}

fn is_marker(p: &[String]) -> bool {
    p.last().is_some_and(|c| c == ".")
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// JSON merge patch (RFC 7386).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Strategic merge patch, for what kubectl sends (`set image`, `rollout restart`, client-side
/// apply): a merge patch whose lists with merge keys merge element by element, where an element
/// `{"$patch": "delete", <key>}` removes it; other `$` directives are ignored.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                match v {
                    Value::Null => {
                        t.remove(k);
                    }
                    _ => match t.get_mut(k) {
                        Some(tv)
                            if (tv.is_object() && v.is_object())
                                || (tv.is_array() && v.is_array()) =>
                        {
                            strategic_merge_patch(tv, v)
                        }
                        _ => {
                            let mut fresh = Value::Null;
                            strategic_merge_patch(&mut fresh, v);
                            t.insert(k.clone(), fresh);
                        }
                    },
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if keyed(p).is_some() && keyed(t).is_some() => {
            for elem in p {
                let key = merge_key(elem)
                    .map(|k| format!("k:{k}"))
                    .unwrap_or_default();
                let delete = elem.get("$patch").and_then(Value::as_str) == Some("delete");
                match (element_index(t, &key), delete) {
                    (Some(i), true) => {
                        t.remove(i);
                    }
                    (Some(i), false) => strategic_merge_patch(&mut t[i], elem),
                    (None, true) => {}
                    (None, false) => {
                        let mut fresh = Value::Null;
                        strategic_merge_patch(&mut fresh, elem);
                        t.push(fresh);
                    }
                }
            }
        }
        (t, p) => {
            // New values: copy, dropping directives and nulls the way a merge into nothing does.
            *t = match p {
                Value::Object(m) => {
                    let mut out = Value::Object(Map::new());
                    let clean: Map<String, Value> = m
                        .iter()
                        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    strategic_merge_patch(&mut out, &Value::Object(clean));
                    out
                }
                Value::Array(a) => Value::Array(
                    a.iter()
                        .filter(|e| e.get("$patch").is_none())
                        .map(|e| {
                            let mut fresh = Value::Null;
                            strategic_merge_patch(&mut fresh, e);
                            fresh
                        })
                        .collect(),
                ),
                other => other.clone(),
            };
        }
    }
}

struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
    subresource: String,
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().unwrap_or_default().to_string(),
            fields: from_fields_v1(&e["fieldsV1"]),
            subresource: e["subresource"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Records a non-apply write (`create`, `update`, `patch`) by `manager`: it takes the fields its
/// body set, without conflicts, as the real server does for updates.
pub fn record_update(
    res: &ResourceDef,
    obj: &mut Value,
    body_fields: BTreeSet<Path>,
    manager: &str,
    subresource: &str,
) {
    let mut entries = read_entries(obj);
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| !body_fields.iter().any(|b| overlaps(p, b)));
    }
    if let Some(e) = entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == subresource)
    {
        let before = e.fields.len();
        e.fields.extend(body_fields);
        if e.fields.len() != before {
            e.time = now_rfc3339();
        }
    } else {
        entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: res.api_version(),
            time: now_rfc3339(),
            fields: body_fields,
            subresource: subresource.to_string(),
        });
    }
    write_entries(obj, entries);
}

/// Server-side apply of `config` by `manager` onto `existing` (or onto nothing: a create).
/// Returns the new object body (the store assigns versions).
pub fn server_side_apply(
    res: &ResourceDef,
    existing: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApiError> {
    let new_fields = field_set(config);
    let Some(existing) = existing else {
        let mut obj = config.clone();
        let entries = vec![Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: res.api_version(),
            time: now_rfc3339(),
            fields: new_fields,
            subresource: String::new(),
        }];
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        write_entries(&mut obj, entries);
        return Ok(obj);
    };

    let name = crate::store::meta_str(existing, "name").to_string();
    let mut entries = read_entries(existing);
    // Conflicts: fields other managers own whose value this apply would change.
    let mut conflicts = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.manager != manager && e.subresource.is_empty())
    {
        // Element markers (`.`) carry no value of their own to disagree on.
        for owned in e.fields.iter().filter(|o| !is_marker(o)) {
            for p in new_fields
                .iter()
                .filter(|p| !is_marker(p) && overlaps(p, owned))
            {
                let theirs = get_path(existing, owned);
                let ours = get_path(config, owned).or_else(|| get_path(config, p));
                if theirs.is_some()
                    && ours.is_some()
                    && get_path(existing, p) != get_path(config, p)
                {
                    conflicts.push((e.manager.clone(), readable(owned)));
                }
            }
        }
    }
    conflicts.sort();
    conflicts.dedup();
    if !conflicts.is_empty() && !force {
        let list: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}\": {p}"))
            .collect();
        let mut err = ApiError::conflict(
            res,
            &name,
            &format!(
                "Apply failed with {} conflicts: {}",
                list.len(),
                list.join(", ")
            ),
        );
        err.message = format!(
            "Apply failed with {} conflict(s): {}",
            list.len(),
            list.join("; ")
        );
        err.details["causes"] = json!(
            conflicts
                .iter()
                .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": p}))
                .collect::<Vec<_>>()
        );
        return Err(err);
    }

    let mut obj = existing.clone();
    // Fields this manager applied before and dropped now: removed unless someone else owns them.
    let previous: BTreeSet<Path> = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    for p in previous.difference(&new_fields) {
        // A dropped list element goes only if nobody else owns anything inside it.
        let scope = if is_marker(p) {
            &p[..p.len() - 1]
        } else {
            &p[..]
        };
        let others_own = entries.iter().any(|e| {
            e.manager != manager
                && e.subresource.is_empty()
                && e.fields.iter().any(|o| overlaps(o, scope))
        });
        let still_set = new_fields.iter().any(|n| n.starts_with(scope));
        if !others_own && !still_set {
            remove_path(&mut obj, p);
        }
    }
    deep_merge(&mut obj, config);
    // Forced or uncontested: the applied fields now belong to this manager alone.
    for e in entries
        .iter_mut()
        .filter(|e| e.manager != manager && e.subresource.is_empty())
    {
        e.fields.retain(|o| {
            !new_fields
                .iter()
                .any(|n| overlaps(o, n) && get_path(existing, o) != get_path(config, o))
        });
    }
    // An apply that sets the same fields keeps its timestamp, so a no-op apply stays a no-op.
    let time = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.fields == new_fields)
        .map(|e| e.time.clone())
        .unwrap_or_else(now_rfc3339);
    entries.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    entries.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: res.api_version(),
        time,
        fields: new_fields,
        subresource: String::new(),
    });
    write_entries(&mut obj, entries);
    Ok(obj)
}

/// Maps merge key by key; lists with merge keys merge element by element (new elements are
/// appended); everything else is replaced.
fn deep_merge(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                if k == "managedFields" {
                    continue;
                }
                match t.get_mut(k) {
                    Some(tv)
                        if (tv.is_object() && v.is_object()) || (tv.is_array() && v.is_array()) =>
                    {
                        deep_merge(tv, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(s)) if keyed(s).is_some() && keyed(t).is_some() => {
            for elem in s {
                let key = merge_key(elem)
                    .map(|k| format!("k:{k}"))
                    .unwrap_or_default();
                match element_index(t, &key) {
                    Some(i) => deep_merge(&mut t[i], elem),
                    None => t.push(elem.clone()),
                }
            }
        }
        (t, s) => *t = s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::res;

    #[test]
    fn apply_creates_then_merges_and_prunes() {
        let cm = res("", "configmaps");
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k1": "v", "k2": "v"}});
        let created = server_side_apply(cm, None, &a, "onyx", false).unwrap();
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "onyx");
        assert_eq!(
            created["metadata"]["managedFields"][0]["fieldsV1"]["f:data"]["f:k1"],
            json!({})
        );
        // Another writer adds a key with a normal update.
        let mut other = created.clone();
        other["data"]["k3"] = json!("theirs");
        record_update(
            cm,
            &mut other,
            [vec!["f:data".to_string(), "f:k3".to_string()]].into(),
            "kubectl-edit",
            "",
        );
        // The first manager drops k2 and changes k1: k2 goes, k3 (theirs) stays.
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k1": "w"}});
        let merged = server_side_apply(cm, Some(&other), &b, "onyx", false).unwrap();
        assert_eq!(merged["data"], json!({"k1": "w", "k3": "theirs"}));
        assert!(
            merged["metadata"]
                .get("labels")
                .is_none_or(|l| l.get("a").is_none())
        );
        // Changing their field is a conflict, unless forced.
        let c = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k1": "w", "k3": "mine"}});
        let err = server_side_apply(cm, Some(&merged), &c, "onyx", false).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
        let forced = server_side_apply(cm, Some(&merged), &c, "onyx", true).unwrap();
        assert_eq!(forced["data"]["k3"], "mine");
        let managers: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["onyx"]);
    }

    #[test]
    fn strategic_merge_patch_merges_keyed_lists() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "image": "api:1", "ports": [{"containerPort": 8080}]},
            {"name": "side", "image": "s:1"}
        ]}}}});
        // What `kubectl set image deploy/x api=api:2` sends.
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}}});
        strategic_merge_patch(&mut d, &p);
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            cs[0],
            json!({"name": "api", "image": "api:2", "ports": [{"containerPort": 8080}]})
        );
        assert_eq!(cs[1]["name"], "side");
        let del = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "api"}],
            "containers": [{"name": "side", "$patch": "delete"}]}}}});
        strategic_merge_patch(&mut d, &del);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(
            d["spec"]["template"]["spec"]
                .get("$setElementOrder/containers")
                .is_none()
        );
        strategic_merge_patch(&mut d, &json!({"spec": {"template": null}}));
        assert_eq!(d, json!({"spec": {}}));
    }

    #[test]
    fn lists_with_merge_keys_merge_by_element() {
        let d = res("apps", "deployments");
        let tpl = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                   "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let a = tpl(
            json!([{"name": "api", "image": "api:1", "ports": [{"containerPort": 8080}]}, {"name": "sidecar", "image": "s:1"}]),
        );
        let created = server_side_apply(d, None, &a, "onyx", false).unwrap();
        let fields = created["metadata"]["managedFields"][0]["fieldsV1"].to_string();
        assert!(fields.contains(r#"k:{\"name\":\"api\"}"#), "{fields}");
        assert!(
            fields.contains(r#"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"#),
            "{fields}"
        );
        // Another manager sets a field inside the api container (an env var).
        let mut edited = created.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "DEBUG", "value": "1"}]);
        let env_path: Path = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            r#"k:{"name":"api"}"#,
            "f:env",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        record_update(d, &mut edited, [env_path].into(), "kubectl-edit", "");
        // Re-applying: the image changes, the sidecar (dropped) goes, their env var stays.
        let b = tpl(json!([{"name": "api", "image": "api:2", "ports": [{"containerPort": 8080}]}]));
        let merged = server_side_apply(d, Some(&edited), &b, "onyx", false).unwrap();
        let containers = merged["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["image"], "api:2");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "DEBUG", "value": "1"}])
        );
        // Changing their env var is a conflict naming the element.
        let c = tpl(
            json!([{"name": "api", "image": "api:2", "env": [{"name": "DEBUG", "value": "0"}]}]),
        );
        let err = server_side_apply(d, Some(&merged), &c, "onyx", false).unwrap_err();
        assert!(
            err.message.contains(r#"[{"name":"api"}].env"#),
            "{}",
            err.message
        );
    }
}
