//! Which Onyx release a stack runs, recorded on the objects themselves, and what `up` may do
//! about it.
//!
//! Every object onyx renders (and so every object `up` applies, and what `onyx render` prints)
//! carries, from [`stamp`]:
//!
//! - annotation [`ANNOTATION_RELEASE`]: the Onyx release the manifests deploy (`v2.3.0`);
//! - annotation [`ANNOTATION_INSTALLER`]: the version of onyx that rendered it;
//! - label `app.kubernetes.io/version`: the Onyx release again (the well-known label for "the
//!   current version of the application", so `kubectl get all -L app.kubernetes.io/version`
//!   shows it).
//!
//! Only object metadata is stamped, never pod templates (a new onyx with the same Onyx release
//! must not restart pods) nor a StatefulSet's claim templates (immutable after creation).
//!
//! **The authoritative record is the API Deployment (`api-server`)**: its container runs
//! `alembic upgrade head` before it serves (embedded/manifests/30-api-server.yaml; Onyx v2.3.0
//! `backend/alembic/env.py`), so the release recorded there is the one whose migrations the
//! database has been taken to — the release the database can no longer go back from. Stacks
//! applied before the record existed are read from that container's image tag
//! (`onyxdotapp/onyx-backend:vX.Y.Z`).
//!
//! Releases are compared as semantic versions (`v2.10.0` is newer than `v2.9.1`; a pre-release
//! such as `v2.4.0-beta.0` is older than `v2.4.0` and newer than `v2.3.0`).

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use crate::stack::ONYX_VERSION;
use crate::stack::object::Rendered;

/// The Onyx release an object was deployed with.
pub const ANNOTATION_RELEASE: &str = "onyx-installer.github.io/onyx-release";
/// The version of onyx (this program) that rendered the object.
pub const ANNOTATION_INSTALLER: &str = "onyx-installer.github.io/installer-version";
/// The well-known "version of the application" label.
pub const LABEL_VERSION: &str = "app.kubernetes.io/version";
/// The Deployment whose record counts: it runs the migrations.
pub const AUTHORITATIVE: &str = "api-server";
/// Its container whose image tag is the fallback record.
const API_CONTAINER: &str = "api-server";

/// The head revision(s) of the pinned release's database schema: what `alembic_version` holds
/// once the API's `migrate` init container has run `alembic upgrade head`. Read from Onyx v2.3.0
/// `backend/alembic/versions` at the tag (253 revisions, each file's `revision`/`down_revision`:
/// the one revision no other names as its down revision is `5e1c073d48a3`,
/// `5e1c073d48a3_add_personal_access_token_table.py`), so that the workers' wait can compare
/// with it without importing the migrations (which import Onyx: issue #20 item 4). A new release
/// brings its own head.
pub const ALEMBIC_HEADS: &[&str] = &["5e1c073d48a3"];

/// This onyx's own version.
pub fn installer_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Record the Onyx release and onyx's version on every object's metadata.
pub fn stamp(objects: &mut [Rendered]) {
    for r in objects {
        let meta = r.object.metadata_mut();
        let annotations = meta.annotations.get_or_insert_with(Default::default);
        annotations.insert(ANNOTATION_RELEASE.into(), ONYX_VERSION.into());
        annotations.insert(ANNOTATION_INSTALLER.into(), installer_version().into());
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(LABEL_VERSION.into(), ONYX_VERSION.into());
    }
}

/// Where a recorded release was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The annotation onyx writes.
    Annotation,
    /// The API container's image tag (a stack applied before onyx recorded releases).
    ImageTag,
}

/// The release a live stack was deployed with, as its API Deployment records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub release: String,
    /// The onyx that applied it, when recorded.
    pub installer: Option<String>,
    pub source: Source,
}

/// Read the record from the API Deployment (annotation first, else the image tag).
pub fn recorded(api: &Deployment) -> Option<Recorded> {
    let annotations = api.metadata.annotations.as_ref();
    if let Some(release) = annotations.and_then(|a| a.get(ANNOTATION_RELEASE)) {
        return Some(Recorded {
            release: release.clone(),
            installer: annotations
                .and_then(|a| a.get(ANNOTATION_INSTALLER))
                .cloned(),
            source: Source::Annotation,
        });
    }
    let image = api
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == API_CONTAINER)?
        .image
        .as_deref()?;
    let tag = crate::docker::reference::Reference::parse(image)
        .ok()?
        .tag?;
    Some(Recorded {
        release: tag,
        installer: None,
        source: Source::ImageTag,
    })
}

/// A release as a semantic version (`v` prefix optional); `None` when it is not one.
pub fn parse(release: &str) -> Option<semver::Version> {
    semver::Version::parse(release.strip_prefix('v').unwrap_or(release)).ok()
}

/// What `up` does about the release already deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing of the stack is there yet.
    Install,
    /// The deployed release is the one this onyx deploys.
    Same,
    /// An older release is deployed: back up, then apply (the API migrates forward).
    Upgrade { from: String },
    /// A newer release migrated the database: refuse.
    Downgrade { from: String },
    /// A stack whose release can't be read or compared: treated like an upgrade (backed up
    /// first), since nothing says its database is newer.
    Unknown { from: Option<String> },
}

/// Decide from the record (`None` with `exists`: an API Deployment without a readable record).
pub fn plan(recorded: Option<&Recorded>, exists: bool, pinned: &str) -> Plan {
    let Some(rec) = recorded else {
        return if exists {
            Plan::Unknown { from: None }
        } else {
            Plan::Install
        };
    };
    match (parse(&rec.release), parse(pinned)) {
        (Some(deployed), Some(ours)) => match deployed.cmp_precedence(&ours) {
            Ordering::Equal => Plan::Same,
            Ordering::Less => Plan::Upgrade {
                from: rec.release.clone(),
            },
            Ordering::Greater => Plan::Downgrade {
                from: rec.release.clone(),
            },
        },
        _ if rec.release == pinned => Plan::Same,
        _ => Plan::Unknown {
            from: Some(rec.release.clone()),
        },
    }
}

/// How the deployed release relates to this onyx's, for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// `up` would upgrade (after a backup).
    Older,
    Same,
    /// `up` refuses.
    Newer,
    Unknown,
}

/// `status`'s view: the deployed release beside the one this onyx would deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseStatus {
    /// The deployed Onyx release (`None`: not readable).
    pub deployed: Option<String>,
    /// The onyx that deployed it, when recorded.
    pub deployed_by: Option<String>,
    /// Where `deployed` was read: `annotation` or `image-tag`.
    pub source: Option<Source>,
    /// The Onyx release this onyx deploys.
    pub this_onyx_deploys: String,
    /// `deployed` compared with `this_onyx_deploys`.
    pub deployed_is: Relation,
}

impl ReleaseStatus {
    pub fn new(recorded: Option<&Recorded>, exists: bool) -> ReleaseStatus {
        let deployed_is = match plan(recorded, exists, ONYX_VERSION) {
            Plan::Same => Relation::Same,
            Plan::Upgrade { .. } => Relation::Older,
            Plan::Downgrade { .. } => Relation::Newer,
            Plan::Install | Plan::Unknown { .. } => Relation::Unknown,
        };
        ReleaseStatus {
            deployed: recorded.map(|r| r.release.clone()),
            deployed_by: recorded.and_then(|r| r.installer.clone()),
            source: recorded.map(|r| r.source),
            this_onyx_deploys: ONYX_VERSION.into(),
            deployed_is,
        }
    }

    /// One line for the status table.
    pub fn line(&self) -> String {
        let deployed = match (&self.deployed, &self.deployed_by) {
            (Some(r), Some(by)) => format!("{r} (applied by onyx {by})"),
            (Some(r), None) => format!("{r} (read from the API image)"),
            (None, _) => "unknown".into(),
        };
        let what = match self.deployed_is {
            Relation::Same => "up to date",
            Relation::Older => "`onyx up` upgrades it, taking a backup first",
            Relation::Newer => {
                "newer than this onyx's: `onyx up` refuses (the database can't migrate back)"
            }
            Relation::Unknown => "`onyx up` backs up before applying",
        };
        format!(
            "Onyx release: {deployed} deployed; this onyx deploys {}: {what}",
            self.this_onyx_deploys
        )
    }
}

/// The error `up` gives for a downgrade, before anything is applied. The facts it states are
/// Onyx's: the API runs `alembic upgrade head` at start, and an older image has no scripts for
/// the newer revisions recorded in `alembic_version`, so alembic stops with "Can't locate
/// revision identified by …" (Onyx v2.3.0 ships alembic 1.10.4, `backend/requirements/default.txt`);
/// undoing them needs the newer release's own `downgrade()` scripts, and those don't give back
/// what they dropped (e.g. v2.4.0's `2acdef638fc2_add_switchover_type_field.py` drops
/// `search_settings.background_reindex_enabled`; its downgrade re-adds it with a default).
pub fn downgrade_refusal(
    from: &str,
    namespace: &str,
    context: &str,
    backups: &[std::path::PathBuf],
) -> crate::error::Error {
    let listed = if backups.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = backups
            .iter()
            .map(|p| format!("\n    {}", p.display()))
            .collect();
        format!(
            "\n  backups of Onyx {ONYX_VERSION} for this namespace:{}",
            names.concat()
        )
    };
    crate::error::Error::Refused {
        message: format!(
            "namespace {namespace} (context {context}) runs Onyx {from}, newer than the Onyx \
             {ONYX_VERSION} this onyx deploys; nothing was applied.\n  Onyx's API migrates the \
             database with alembic when it starts; Onyx {ONYX_VERSION} has no migration scripts \
             for {from}'s newer schema, so its API would fail to start (\"Can't locate revision\") \
             and the database cannot be migrated back with it.{listed}"
        ),
        hint: format!(
            "keep Onyx {from}: use the onyx release that deploys it (`onyx self update`, or \
             that release's installer); or go back to Onyx {ONYX_VERSION} with a backup taken \
             before the upgrade: `onyx restore FILE` (it records Onyx {ONYX_VERSION} as \
             deployed), then `onyx up`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::profile::{self, ProfileName};
    use crate::stack::render::{RenderOptions, render};

    fn rec(release: &str) -> Recorded {
        Recorded {
            release: release.into(),
            installer: Some("0.1.0".into()),
            source: Source::Annotation,
        }
    }

    #[test]
    fn releases_compare_as_versions() {
        let p = |r: &str| plan(Some(&rec(r)), true, "v2.3.0");
        assert_eq!(p("v2.3.0"), Plan::Same);
        assert_eq!(p("2.3.0"), Plan::Same);
        assert_eq!(
            p("v2.2.4"),
            Plan::Upgrade {
                from: "v2.2.4".into()
            }
        );
        assert_eq!(
            p("v2.3.0-beta.3"),
            Plan::Upgrade {
                from: "v2.3.0-beta.3".into()
            }
        );
        assert_eq!(
            p("v2.4.0"),
            Plan::Downgrade {
                from: "v2.4.0".into()
            }
        );
        assert_eq!(
            p("v2.4.0-beta.0"),
            Plan::Downgrade {
                from: "v2.4.0-beta.0".into()
            }
        );
        // Not strings: v2.10.0 is newer than v2.9.1 (a string compare says otherwise).
        assert_eq!(
            plan(Some(&rec("v2.10.0")), true, "v2.9.1"),
            Plan::Downgrade {
                from: "v2.10.0".into()
            }
        );
        assert_eq!(
            plan(Some(&rec("v2.9.1")), true, "v2.10.0"),
            Plan::Upgrade {
                from: "v2.9.1".into()
            }
        );
        assert_eq!(
            p("latest"),
            Plan::Unknown {
                from: Some("latest".into())
            }
        );
        assert_eq!(plan(None, true, "v2.3.0"), Plan::Unknown { from: None });
        assert_eq!(plan(None, false, "v2.3.0"), Plan::Install);
    }

    fn api_deployment(annotations: Option<(&str, &str)>, image: &str) -> Deployment {
        let mut v = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api-server"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "wait", "image": "busybox:1"},
                {"name": "api-server", "image": image}
            ]}}}
        });
        if let Some((release, installer)) = annotations {
            v["metadata"]["annotations"] =
                serde_json::json!({ANNOTATION_RELEASE: release, ANNOTATION_INSTALLER: installer});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_record_is_the_annotation_else_the_api_image_tag() {
        let d = api_deployment(Some(("v2.2.0", "0.0.9")), "onyxdotapp/onyx-backend:v2.3.0");
        assert_eq!(
            recorded(&d),
            Some(Recorded {
                release: "v2.2.0".into(),
                installer: Some("0.0.9".into()),
                source: Source::Annotation
            })
        );
        let d = api_deployment(
            None,
            "mirror.example:5000/onyxdotapp/onyx-backend:v2.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        );
        let r = recorded(&d).unwrap();
        assert_eq!((r.release.as_str(), r.source), ("v2.1.0", Source::ImageTag));
        assert_eq!(
            recorded(&api_deployment(None, "onyxdotapp/onyx-backend")),
            None
        );
    }

    #[test]
    fn every_rendered_object_is_stamped_and_pod_templates_are_not() {
        for name in [ProfileName::Small, ProfileName::Cluster] {
            let objects = render(&RenderOptions {
                profile: profile::profile(name),
                namespace: Some("x"),
                web_url: "http://localhost:3000".into(),
                credentials: None,
                gateway_node_port: None,
                indexing: crate::stack::indexing::Indexing::default_for(name),
                app: Default::default(),
            });
            assert!(!objects.is_empty());
            for r in &objects {
                let meta = r.object.metadata();
                let a = meta.annotations.as_ref().expect("annotations");
                assert_eq!(a[ANNOTATION_RELEASE], ONYX_VERSION, "{}", r.object.name());
                assert_eq!(a[ANNOTATION_INSTALLER], installer_version());
                assert_eq!(meta.labels.as_ref().unwrap()[LABEL_VERSION], ONYX_VERSION);
                if let Some(t) = r.object.pod_template() {
                    let m = t.metadata.as_ref().unwrap();
                    assert!(!m.labels.as_ref().unwrap().contains_key(LABEL_VERSION));
                    assert!(
                        m.annotations
                            .as_ref()
                            .is_none_or(|a| !a.contains_key(ANNOTATION_INSTALLER))
                    );
                }
            }
            // The authoritative object is rendered, and reads back as this release.
            let api = objects
                .iter()
                .find_map(|r| match &r.object {
                    crate::stack::render::Object::Deployment(d)
                        if r.object.name() == AUTHORITATIVE =>
                    {
                        Some(d.clone())
                    }
                    _ => None,
                })
                .expect("api-server Deployment");
            assert_eq!(recorded(&api).unwrap(), {
                Recorded {
                    release: ONYX_VERSION.into(),
                    installer: Some(installer_version().into()),
                    source: Source::Annotation,
                }
            });
        }
    }

    #[test]
    fn the_downgrade_refusal_names_both_ways_out() {
        let e = downgrade_refusal(
            "v2.4.0",
            "onyx",
            "kind-onyx",
            &["/d/backups/a.onyx-backup".into()],
        );
        let text = format!("{e}");
        for part in [
            "v2.4.0",
            "nothing was applied",
            "cannot be migrated back",
            "/d/backups/a.onyx-backup",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let crate::error::Error::Refused { hint, .. } = e else {
            panic!()
        };
        assert!(hint.contains("onyx restore FILE") && hint.contains("self update"));
    }
}
