//! The object store: every object as JSON, one global resourceVersion counter, and the ordered
//! change log that watches replay from.
//!
//! Real clients depend on a few store guarantees, which this module keeps:
//! - every write gets a new, strictly increasing `resourceVersion` (a global counter, like etcd's
//!   revision), and a write that changes nothing is a no-op (no new version, no event);
//! - `uid`, `creationTimestamp` and `generation` are set by the server; `generation` moves only
//!   when something other than metadata and status changes;
//! - a watch started at version N sees every change after N, in order (list-then-watch with no gap),
//!   and one started at a version older than the retained log gets `410 Gone`.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::resources::ResourceDef;

/// How many changes a watch can replay by default; older versions get `410 Gone`.
pub const DEFAULT_HISTORY: usize = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug)]
pub struct Change {
    pub res: &'static ResourceDef,
    pub kind: EventType,
    pub rv: u64,
    pub object: Value,
    /// The previous state, for modifications (filtered watches need it).
    pub old: Option<Value>,
}

pub type Key = (String, String);

pub struct Store {
    objects: BTreeMap<&'static str, BTreeMap<Key, Value>>,
    rv: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    tx: broadcast::Sender<Change>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// A store whose change log keeps the last `limit` changes.
    pub fn with_history(limit: usize) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit: limit.max(1),
            tx,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Changes after `rv` (exclusive), or `None` if the log no longer reaches back that far.
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if let Some(first) = self.history.front()
            && rv + 1 < first.rv
        {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    pub fn get(&self, res: &ResourceDef, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(res.plural)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Objects of one type, in one namespace or all (`ns == None`), ordered by namespace and name.
    pub fn list(&self, res: &ResourceDef, ns: Option<&str>) -> Vec<Value> {
        let Some(m) = self.objects.get(res.plural) else {
            return Vec::new();
        };
        m.iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn record(
        &mut self,
        res: &'static ResourceDef,
        kind: EventType,
        object: Value,
        old: Option<Value>,
    ) {
        let change = Change {
            res,
            kind,
            rv: self.rv,
            object,
            old,
        };
        self.history.push_back(change.clone());
        if self.history.len() > self.history_limit {
            self.history.pop_front();
        }
        let _ = self.tx.send(change);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Stores a new object; fills in uid, timestamps, generation and resourceVersion.
    pub fn create(&mut self, res: &'static ResourceDef, mut obj: Value) -> Result<Value, ApiError> {
        let ns = if res.namespaced {
            meta_str(&obj, "namespace").to_string()
        } else {
            String::new()
        };
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    res,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = format!("{prefix}{}", random_suffix(5));
        }
        validate_name(res, &name)?;
        normalize(res, &mut obj);
        if res.namespaced && self.get(namespaces(), "", &ns).is_none() {
            return Err(ApiError::not_found(namespaces(), &ns));
        }
        if self.get(res, &ns, &name).is_some() {
            return Err(ApiError::already_exists(res, &name));
        }
        let rv = self.next_rv();
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let meta = ensure_object(&mut obj, "metadata");
        meta.insert("name".into(), json!(name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        meta.remove("deletionTimestamp");
        self.objects
            .entry(res.plural)
            .or_default()
            .insert((ns, name), obj.clone());
        self.record(res, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces a stored object. Server-owned metadata is kept; a stale `resourceVersion` in
    /// `new` is a conflict; a write that changes nothing keeps the old version and emits nothing.
    pub fn update(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        mut new: Value,
    ) -> Result<Value, ApiError> {
        let Some(old) = self.get(res, ns, name).cloned() else {
            return Err(ApiError::not_found(res, name));
        };
        let sent_rv = meta_str(&new, "resourceVersion").to_string();
        if !sent_rv.is_empty() && sent_rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(
                res,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        new["apiVersion"] = json!(res.api_version());
        new["kind"] = json!(res.kind);
        normalize(res, &mut new);
        {
            let om = old["metadata"].clone();
            let meta = ensure_object(&mut new, "metadata");
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "resourceVersion",
                "deletionTimestamp",
            ] {
                match om.get(k) {
                    Some(v) => meta.insert(k.into(), v.clone()),
                    None => meta.remove(k),
                };
            }
        }
        if new == old {
            return Ok(old);
        }
        if without_meta_status(&new) != without_meta_status(&old) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(g);
        }
        let rv = self.next_rv();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects
            .entry(res.plural)
            .or_default()
            .insert((ns.to_string(), name.to_string()), new.clone());
        self.record(res, EventType::Modified, new.clone(), Some(old));
        Ok(new)
    }

    pub fn delete(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let removed = self
            .objects
            .get_mut(res.plural)
            .and_then(|m| m.remove(&(ns.to_string(), name.to_string())));
        let Some(mut obj) = removed else {
            return Err(ApiError::not_found(res, name));
        };
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(res, EventType::Deleted, obj.clone(), None);
        Ok(obj)
    }

    /// Every stored object with its type; used by garbage collection and namespace deletion.
    pub fn all(&self) -> Vec<(&'static ResourceDef, Value)> {
        let mut out = Vec::new();
        for r in crate::resources::RESOURCES {
            for v in self.list(r, None) {
                out.push((r, v));
            }
        }
        out
    }

    /// Every object and the version counter, as JSON, for a simulator that must outlive its
    /// process (the etcd of a node that is stopped and started again).
    pub fn snapshot(&self) -> Value {
        let objects: Vec<Value> = self
            .all()
            .into_iter()
            .map(|(r, v)| json!({"group": r.group, "version": r.version, "plural": r.plural, "object": v}))
            .collect();
        json!({"resourceVersion": self.rv, "objects": objects})
    }

    /// A store holding a [`Store::snapshot`]'s objects, as a restarted API server finds them in
    /// etcd. Pods are left out: the node restarted, so the workload controllers make them anew.
    pub fn restore(limit: usize, snapshot: &Value) -> Result<Store, String> {
        let mut store = Store::with_history(limit);
        let rv = snapshot["resourceVersion"]
            .as_u64()
            .ok_or("the snapshot has no resourceVersion")?;
        for entry in snapshot["objects"]
            .as_array()
            .ok_or("the snapshot has no objects")?
        {
            let s = |k: &str| entry[k].as_str().unwrap_or_default();
            let res =
                crate::resources::find(s("group"), s("version"), s("plural")).ok_or_else(|| {
                    format!(
                        "unknown resource {}/{}/{}",
                        s("group"),
                        s("version"),
                        s("plural")
                    )
                })?;
            if res.kind == "Pod" {
                continue;
            }
            let obj = entry["object"].clone();
            let key = (
                meta_str(&obj, "namespace").to_string(),
                meta_str(&obj, "name").to_string(),
            );
            store
                .objects
                .entry(res.plural)
                .or_default()
                .insert(key, obj);
        }
        store.rv = rv;
        Ok(store)
    }

    pub fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|m| m.values().any(|v| meta_str(v, "uid") == uid))
    }
}

/// What the API server does to an object on every write: a Secret's `stringData` is merged into
/// `data` (base64) and never stored.
fn normalize(res: &ResourceDef, obj: &mut Value) {
    use base64::Engine;
    if res.kind != "Secret" {
        return;
    }
    let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    let data = ensure_object(obj, "data");
    for (k, v) in plain {
        let text = v.as_str().unwrap_or_default();
        data.insert(
            k,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
}

pub fn namespaces() -> &'static ResourceDef {
    crate::resources::find("", "v1", "namespaces").expect("namespaces is in the table")
}

pub fn res(group: &str, plural: &str) -> &'static ResourceDef {
    crate::resources::find(group, "v1", plural).expect("resource is in the table")
}

fn without_meta_status(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

pub fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn ensure_object<'a>(v: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let m = v.as_object_mut().expect("just made an object");
    let entry = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("just made an object")
}

/// RFC 1123 subdomain names (what most kinds accept).
fn validate_name(res: &ResourceDef, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            res,
            name,
            &format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

pub fn new_uid() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a as u16) & 0x0fff,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub fn random_suffix(n: usize) -> String {
    let mut x = random_u64();
    (0..n)
        .map(|_| {
            let c = ALPHANUMS[(x % ALPHANUMS.len() as u64) as usize] as char;
            x /= ALPHANUMS.len() as u64;
            c
        })
        .collect()
}

/// A stable short hash in the same alphabet (pod-template-hash, controller-revision-hash).
pub fn stable_hash(v: &Value) -> String {
    // FNV-1a: stable across runs, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHANUMS[(h % ALPHANUMS.len() as u64) as usize] as char;
            h /= ALPHANUMS.len() as u64;
            c
        })
        .collect()
}

/// Seconds since the epoch of an RFC 3339 UTC time as this module writes them.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn versions_increase_and_noop_writes_do_not_bump() {
        let mut s = Store::new();
        s.create(namespaces(), json!({"metadata": {"name": "a"}}))
            .unwrap();
        let cm = res("", "configmaps");
        let v1 = s
            .create(
                cm,
                json!({"metadata": {"name": "x", "namespace": "a"}, "data": {"k": "1"}}),
            )
            .unwrap();
        let same = s.update(cm, "a", "x", v1.clone()).unwrap();
        assert_eq!(same, v1);
        let mut changed = v1.clone();
        changed["data"]["k"] = json!("2");
        let v2 = s.update(cm, "a", "x", changed).unwrap();
        let rv = |v: &Value| meta_str(v, "resourceVersion").parse::<u64>().unwrap();
        assert!(rv(&v2) > rv(&v1));
        assert_eq!(v2["metadata"]["generation"], json!(2));
        // A stale version is a conflict.
        let err = s.update(cm, "a", "x", v1).unwrap_err();
        assert_eq!(err.code, 409);
        // Namespaced creates need the namespace.
        let err = s
            .create(cm, json!({"metadata": {"name": "y", "namespace": "nope"}}))
            .unwrap_err();
        assert_eq!(err.code, 404);
    }
}
