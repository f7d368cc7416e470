//! Step 8 of the tick: garbage collection of objects whose owners are gone (and of the kubelet's
//! memory of them), and orphaning for deletes with `propagationPolicy=Orphan`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::Kubelet;
use crate::store::{Store, meta_str};

/// Drops owner references to `uid` (deletion with `propagationPolicy=Orphan`).
pub fn orphan_dependents(store: &mut Store, uid: &str) {
    for (r, o) in store.all() {
        let refs = o["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refs.iter().any(|r| r["uid"] == uid) {
            let mut new = o.clone();
            let kept: Vec<Value> = refs.into_iter().filter(|r| r["uid"] != uid).collect();
            new["metadata"]["ownerReferences"] = json!(kept);
            let _ = store.update(r, meta_str(&o, "namespace"), meta_str(&o, "name"), new);
        }
    }
}

pub(super) fn garbage_collect(store: &mut Store, kubelet: &mut Kubelet) {
    let all = store.all();
    let uids: HashSet<String> = all
        .iter()
        .map(|(_, o)| meta_str(o, "uid").to_string())
        .collect();
    for (r, o) in &all {
        let refs = o["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !refs.is_empty()
            && refs
                .iter()
                .all(|x| !uids.contains(x["uid"].as_str().unwrap_or("")))
        {
            let _ = store.delete(r, meta_str(o, "namespace"), meta_str(o, "name"));
        }
        if r.plural == "persistentvolumes"
            && let Some(claim_uid) = o["spec"]["claimRef"]["uid"].as_str()
            && !uids.contains(claim_uid)
            && o["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        {
            let _ = store.delete(r, "", meta_str(o, "name"));
        }
    }
    kubelet.pods.retain(|uid, _| uids.contains(uid));
    kubelet.logs.retain(|(uid, _), _| uids.contains(uid));
    kubelet.progress.retain(|uid, _| uids.contains(uid));
}
