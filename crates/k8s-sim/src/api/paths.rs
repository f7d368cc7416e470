//! Step 3 of a request: the URL's path and query parsed the way the real server does
//! (`/api/v1/...` for the core group, `/apis/<group>/<version>/...` for the others).

use super::{Query, Target};
use crate::error::ApiError;
use crate::resources;
use crate::store::namespaces;

pub(super) fn parse_query(s: &str) -> Query {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_path(segs: &[&str]) -> Result<Target, ApiError> {
    let not_found = || ApiError::path_not_found(&format!("/{}", segs.join("/")));
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    let find = |plural: &str| resources::find(group, version, plural).ok_or_else(not_found);
    let t = |res, ns: &str, name: Option<&str>, sub: Option<&str>| Target {
        res,
        ns: ns.to_string(),
        name: name.map(String::from),
        sub: sub.map(String::from),
    };
    match rest {
        // /api/v1/namespaces/{name}[/status|finalize] is the Namespace itself.
        ["namespaces"] if group.is_empty() => Ok(t(namespaces(), "", None, None)),
        ["namespaces", name] if group.is_empty() => Ok(t(namespaces(), "", Some(name), None)),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            Ok(t(namespaces(), "", Some(name), Some(sub)))
        }
        ["namespaces", ns, plural, tail @ ..] => {
            let r = find(plural)?;
            if !r.namespaced {
                return Err(not_found());
            }
            match tail {
                [] => Ok(t(r, ns, None, None)),
                [name] => Ok(t(r, ns, Some(name), None)),
                [name, sub] => Ok(t(r, ns, Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        [plural, tail @ ..] => {
            let r = find(plural)?;
            match tail {
                [] => Ok(t(r, "", None, None)),
                [name] if !r.namespaced => Ok(t(r, "", Some(name), None)),
                [name, sub] if !r.namespaced => Ok(t(r, "", Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path(&[
            "apis",
            "apps",
            "v1",
            "namespaces",
            "x",
            "deployments",
            "d",
            "status",
        ])
        .unwrap();
        assert_eq!(
            (
                t.res.kind,
                t.ns.as_str(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("Deployment", "x", Some("d"), Some("status"))
        );
        let t = parse_path(&["api", "v1", "namespaces", "x"]).unwrap();
        assert_eq!((t.res.kind, t.name.as_deref()), ("Namespace", Some("x")));
        let t = parse_path(&["api", "v1", "pods"]).unwrap();
        assert_eq!((t.res.kind, t.ns.as_str()), ("Pod", ""));
        assert!(parse_path(&["api", "v1", "nothings"]).is_err());
        assert!(parse_path(&["api", "v1", "namespaces", "x", "nodes"]).is_err());
        assert_eq!(decode("a%2Cb+c"), "a,b c");
        assert_eq!(decode("100%"), "100%");
    }
}
