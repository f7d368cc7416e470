//! Image references (`[registry/]path[:tag][@sha256:digest]`), parsed just enough to pull an
//! image through a registry mirror and tag it back under the name the manifests use.

use std::fmt;

/// Docker Hub, the registry of references without a registry part.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The reference exactly as given.
    pub original: String,
    /// `docker.io` when none is written.
    pub registry: String,
    /// The repository path as written (`nginx`, `onyxdotapp/onyx-backend`).
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:…`
    pub digest: Option<String>,
}

impl Reference {
    /// Parse; `Err` says what is wrong.
    pub fn parse(s: &str) -> Result<Reference, String> {
        let bad = |why: &str| Err(format!("{s:?} is not an image reference: {why}"));
        if s.is_empty() || s.contains(char::is_whitespace) {
            return bad("empty or holds spaces");
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return bad("the digest is not sha256:<64 hex digits>");
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if tag.as_deref() == Some("") {
            return bad("empty tag");
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.is_empty()
            || path
                .split('/')
                .any(|c| c.is_empty() || c.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return bad("bad repository name");
        }
        Ok(Reference {
            original: s.to_string(),
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The repository path on its registry (`library/` added for Docker Hub's official images).
    pub fn remote_path(&self) -> String {
        if self.registry == DOCKER_HUB && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        }
    }

    /// Where to pull from: through `mirror` for Docker Hub images, else the reference itself.
    /// `docker.io/library/nginx:1.23.4-alpine` → `MIRROR/library/nginx:1.23.4-alpine`; a digest
    /// stays on the reference.
    pub fn pull_reference(&self, mirror: Option<&str>) -> String {
        match mirror {
            Some(m) if self.registry == DOCKER_HUB => {
                let mut s = format!("{}/{}", m.trim_end_matches('/'), self.remote_path());
                if let Some(t) = &self.tag {
                    s.push(':');
                    s.push_str(t);
                }
                if let Some(d) = &self.digest {
                    s.push('@');
                    s.push_str(d);
                }
                s
            }
            _ => self.original.clone(),
        }
    }

    /// The repository as written, without tag or digest (what `docker tag` takes as `repo`).
    pub fn repository(&self) -> String {
        if self.original.starts_with(&format!("{}/", self.registry)) {
            format!("{}/{}", self.registry, self.path)
        } else {
            self.path.clone()
        }
    }

    /// `repo:tag` to tag a mirrored image with, if the reference has a tag or no digest (a
    /// reference with only a digest can't be a tag; the engine finds it by digest).
    pub fn tag_target(&self) -> Option<(String, String)> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some((self.repository(), t.clone())),
            (None, None) => Some((self.repository(), "latest".into())),
            (None, Some(_)) => None,
        }
    }

    /// The name to look the image up by in the engine: `repo:tag` when tagged, else the
    /// reference itself.
    pub fn local_name(&self) -> String {
        match self.tag_target() {
            Some((r, t)) => format!("{r}:{t}"),
            None => self.original.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Check a mirror host (`HOST[:PORT][/PATH]`, no scheme).
pub fn validate_mirror(mirror: &str) -> Result<(), String> {
    if mirror.is_empty()
        || mirror.contains("://")
        || mirror.contains(char::is_whitespace)
        || mirror.starts_with('/')
    {
        return Err(format!(
            "registry mirror {mirror:?} must be HOST[:PORT][/PATH], without http:// or https://"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

    #[test]
    fn mirror_rewrites_docker_hub_references() {
        let cases = [
            (
                "docker.io/library/nginx:1.23.4-alpine",
                "m.example:5000/library/nginx:1.23.4-alpine",
            ),
            (
                "nginx:1.23.4-alpine",
                "m.example:5000/library/nginx:1.23.4-alpine",
            ),
            (
                "onyxdotapp/onyx-backend:v2.3.0",
                "m.example:5000/onyxdotapp/onyx-backend:v2.3.0",
            ),
            ("redis", "m.example:5000/library/redis"),
        ];
        for (given, want) in cases {
            let r = Reference::parse(given).unwrap();
            assert_eq!(r.pull_reference(Some("m.example:5000")), want, "{given}");
            assert_eq!(r.pull_reference(None), given);
        }
    }

    #[test]
    fn digests_stay_and_other_registries_are_untouched() {
        let node = format!("kindest/node:v1.36.1@{DIGEST}");
        let r = Reference::parse(&node).unwrap();
        assert_eq!(
            r.pull_reference(Some("mirror")),
            format!("mirror/kindest/node:v1.36.1@{DIGEST}")
        );
        assert_eq!(
            r.tag_target(),
            Some(("kindest/node".into(), "v1.36.1".into()))
        );
        assert_eq!(r.local_name(), "kindest/node:v1.36.1");

        let only_digest = Reference::parse(&format!("busybox@{DIGEST}")).unwrap();
        assert_eq!(only_digest.tag_target(), None);
        assert_eq!(
            only_digest.pull_reference(Some("m")),
            format!("m/library/busybox@{DIGEST}")
        );

        let ghcr = Reference::parse("ghcr.io/org/app:1").unwrap();
        assert_eq!(ghcr.registry, "ghcr.io");
        assert_eq!(ghcr.pull_reference(Some("m")), "ghcr.io/org/app:1");
        assert_eq!(
            ghcr.tag_target(),
            Some(("ghcr.io/org/app".into(), "1".into()))
        );

        let local = Reference::parse("127.0.0.1:5000/x/y:2").unwrap();
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(local.path, "x/y");
        assert_eq!(local.tag.as_deref(), Some("2"));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in ["", "a b", "Nginx:1", "x@sha256:abc", "x:", "a//b"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_catalog_image_parses() {
        for i in crate::stack::catalog::images() {
            Reference::parse(&i.reference).unwrap();
        }
    }

    #[test]
    fn mirrors_are_checked() {
        assert!(validate_mirror("mirror.corp:5000").is_ok());
        assert!(validate_mirror("mirror.corp/dockerhub").is_ok());
        assert!(validate_mirror("https://mirror.corp").is_err());
        assert!(validate_mirror("").is_err());
    }
}
