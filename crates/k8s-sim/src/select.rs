//! Label and field selectors, as list and watch requests send them.
//!
//! kube-rs `ListParams::labels`, kubectl `-l` and the controllers' own pod lookups all reduce to the
//! same string grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-joined.
//! Field selectors use `path=value` / `path!=value` over dotted object paths (`metadata.name`,
//! `status.phase`, `involvedObject.name`).

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(Vec<Req>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>, ApiError> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: expected a set like (a,b), got {s:?}"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl Selector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set_values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Req::In(k.trim().into(), set_values(v)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Req::Exists(part)
            } else {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: {part:?}"
                )));
            };
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// A selector from a `matchLabels` map (what Deployments and Services carry).
    pub fn from_labels(labels: &Value) -> Self {
        let reqs = labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| Req::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Selector(reqs)
    }

    /// A selector from a `LabelSelector` (`matchLabels` and `matchExpressions`).
    pub fn from_label_selector(sel: &Value) -> Self {
        let mut s = Self::from_labels(&sel["matchLabels"]);
        for e in sel["matchExpressions"].as_array().into_iter().flatten() {
            let key = e["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => s.0.push(Req::In(key, values)),
                "NotIn" => s.0.push(Req::NotIn(key, values)),
                "Exists" => s.0.push(Req::Exists(key)),
                "DoesNotExist" => s.0.push(Req::NotExists(key)),
                _ => {}
            }
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Matches against a label map.
    pub fn matches_labels(&self, labels: &Value) -> bool {
        self.matches_with(|k| labels.get(k).and_then(Value::as_str).map(String::from))
    }

    /// Matches a field selector against an object (dotted paths; missing reads as "").
    pub fn matches_fields(&self, obj: &Value) -> bool {
        self.matches_with(|k| {
            let mut cur = obj;
            for part in k.split('.') {
                cur = cur.get(part)?;
            }
            Some(match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
        })
    }

    fn matches_with(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k).unwrap_or_default() == *v && (get(k).is_some() || v.is_empty()),
            Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_grammar() {
        let l = json!({"app": "web", "tier": "front"});
        assert!(Selector::parse("app=web").unwrap().matches_labels(&l));
        assert!(Selector::parse("app==web,tier").unwrap().matches_labels(&l));
        assert!(!Selector::parse("app!=web").unwrap().matches_labels(&l));
        assert!(
            Selector::parse("app in (api, web),!missing")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !Selector::parse("tier notin (front)")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(Selector::parse("app in web").is_err());
    }

    #[test]
    fn field_paths() {
        let o = json!({"metadata": {"name": "x"}, "status": {"phase": "Running"}});
        assert!(
            Selector::parse("metadata.name=x")
                .unwrap()
                .matches_fields(&o)
        );
        assert!(
            Selector::parse("status.phase!=Pending")
                .unwrap()
                .matches_fields(&o)
        );
        assert!(
            !Selector::parse("metadata.name=y")
                .unwrap()
                .matches_fields(&o)
        );
    }
}
