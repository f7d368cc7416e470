//! Facts about the machine the stack would run on: memory, CPUs, OS and architecture, and whether
//! the CPU has AVX2 (Vespa's default image needs it); and the checks `up` makes before it starts:
//! free disk where the engine keeps images, AVX2 for Vespa, a free UI port.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::stack::profile::Capacity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    pub os: String,
    pub arch: String,
    pub memory_bytes: u64,
    pub cpus: u32,
    /// `None` where the question doesn't apply (not x86-64).
    pub avx2: Option<bool>,
    /// Where the figures come from ("this host", "the Docker engine", "the given machine", or
    /// the given cluster's name).
    pub source: String,
    /// Set when the figures are a given cluster's: what its nodes can still schedule
    /// ([`crate::sizing::cluster_room`]); `memory_bytes` and `cpus` are then that room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<crate::stack::profile::Room>,
}

impl HostFacts {
    /// Read this machine.
    pub fn detect() -> HostFacts {
        // sysinfo can fail only where the OS hides memory figures; 0 then makes the profile
        // choice refuse with the numbers, which --memory/--force can override.
        let memory_bytes = match sysinfo::System::new() {
            Ok(mut sys) => {
                sys.refresh_memory();
                sys.total_memory()
            }
            Err(e) => {
                tracing::warn!("cannot read this machine's memory size: {e}");
                0
            }
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        HostFacts {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            memory_bytes,
            cpus,
            avx2: avx2(),
            source: "this host".to_string(),
            room: None,
        }
    }

    pub fn capacity(&self) -> Capacity {
        Capacity {
            memory_bytes: self.memory_bytes,
            cpus: self.cpus,
            room: self.room,
        }
    }
}

/// Below this much free disk where the engine keeps images, warn: the images take ~15 GiB and
/// Vespa stops accepting writes when its disk is ~85% full.
pub const DISK_WARN_BYTES: u64 = 40 << 30;

/// The generic Vespa image, for x86-64 CPUs without AVX2.
pub const VESPA_GENERIC_IMAGE: &str = "vespaengine/vespa-generic-intel-x86_64";

/// The outcome of a check that may pass, warn, or refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    Warn(String),
}

/// Free bytes on the filesystem holding `path` (the longest mount point that contains it), or
/// `None` when it can't be told (e.g. the engine runs in a VM and `path` is inside it).
pub fn free_disk_at(path: &Path) -> Option<u64> {
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    let path = path.canonicalize().ok()?;
    disks
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| d.available_space())
}

/// Judge free disk space: refuse when the images don't fit, warn under [`DISK_WARN_BYTES`].
pub fn check_disk(where_: &str, free: u64, images_bytes: u64) -> Result<Check> {
    if free < images_bytes {
        return Err(Error::DiskFull {
            path: where_.into(),
            free: crate::stack::profile::gib(free),
            need: crate::stack::profile::gib(images_bytes),
        });
    }
    if free < DISK_WARN_BYTES {
        return Ok(Check::Warn(format!(
            "only {} free at {where_}: the images and the data may fill it; {} or more is \
             comfortable",
            crate::stack::profile::gib(free),
            crate::stack::profile::gib(DISK_WARN_BYTES)
        )));
    }
    Ok(Check::Ok)
}

/// Free disk where the engine keeps images (`root_dir` from the engine's facts), judged by
/// [`check_disk`]. When the engine is not on this machine (`local` false: TCP, or a VM such as
/// Docker Desktop's, whose directory doesn't exist here) the space can't be seen: a warning says so.
pub fn check_engine_disk(root_dir: &str, local: bool, images_bytes: u64) -> Result<Check> {
    let free = if local && !root_dir.is_empty() {
        free_disk_at(Path::new(root_dir))
    } else {
        None
    };
    match free {
        Some(free) => check_disk(root_dir, free, images_bytes),
        None => Ok(Check::Warn(format!(
            "free disk for images not checked: the Docker engine keeps them at {:?}, which is \
             not visible from here (a VM or another machine); make sure it has {} or more free",
            root_dir,
            crate::stack::profile::gib(DISK_WARN_BYTES)
        ))),
    }
}

/// Vespa's default image needs AVX2 on x86-64.
pub fn check_avx2(avx2: Option<bool>) -> Check {
    match avx2 {
        Some(false) => Check::Warn(format!(
            "this CPU lacks AVX2, which Vespa's default image needs (it would stop with \
             \"Illegal instruction\"); use the generic image {VESPA_GENERIC_IMAGE} instead"
        )),
        _ => Check::Ok,
    }
}

/// Is `port` free on 127.0.0.1? Refuses with what to do when it is taken.
pub fn check_port_free(port: u16) -> Result<()> {
    match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(e) => Err(Error::input(
            format!("port {port} on 127.0.0.1 is not free: {e}"),
            format!(
                "stop what uses it, or pick another port with --port or {}",
                crate::env_vars::ONYX_PORT
            ),
        )),
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2() -> Option<bool> {
    Some(std::arch::is_x86_feature_detected!("avx2"))
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2() -> Option<bool> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_something_plausible() {
        let h = HostFacts::detect();
        assert!(h.memory_bytes > 256 * 1024 * 1024, "{h:?}");
        assert!(h.cpus >= 1);
        assert_eq!(h.avx2.is_some(), cfg!(target_arch = "x86_64"));
    }

    #[test]
    fn disk_refuses_below_the_images_and_warns_below_40_gib() {
        const GIB: u64 = 1 << 30;
        let err = check_disk("/var/lib/docker", 10 * GIB, 15 * GIB).unwrap_err();
        assert!(matches!(err, Error::DiskFull { .. }));
        assert!(err.to_string().contains("/var/lib/docker"), "{err}");
        match check_disk("/var/lib/docker", 30 * GIB, 15 * GIB).unwrap() {
            Check::Warn(w) => assert!(w.contains("30"), "{w}"),
            Check::Ok => panic!("30 GiB should warn"),
        }
        assert_eq!(check_disk("/", 100 * GIB, 15 * GIB).unwrap(), Check::Ok);
    }

    #[test]
    fn engine_disk_is_checked_only_where_visible() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        // Visible: the real free space decides (a huge image set can't fit).
        assert!(matches!(
            check_engine_disk(root, true, u64::MAX),
            Err(Error::DiskFull { .. })
        ));
        // In a VM or remote: a warning, never a refusal.
        for (root, local) in [("/var/lib/docker-in-a-vm-nowhere", true), (root, false)] {
            match check_engine_disk(root, local, u64::MAX).unwrap() {
                Check::Warn(w) => assert!(w.contains("not checked"), "{w}"),
                Check::Ok => panic!("unseen disk must warn"),
            }
        }
    }

    #[test]
    fn free_disk_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_disk_at(dir.path()).is_some_and(|b| b > 0));
        assert_eq!(free_disk_at(Path::new("/does/not/exist")), None);
    }

    #[test]
    fn no_avx2_offers_the_generic_vespa_image() {
        match check_avx2(Some(false)) {
            Check::Warn(w) => assert!(w.contains(VESPA_GENERIC_IMAGE), "{w}"),
            Check::Ok => panic!("no AVX2 must warn"),
        }
        assert_eq!(check_avx2(Some(true)), Check::Ok);
        assert_eq!(check_avx2(None), Check::Ok);
    }

    #[test]
    fn taken_port_is_refused_free_port_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = check_port_free(port).unwrap_err();
        assert!(err.to_string().contains(&port.to_string()), "{err}");
        assert!(err.hint().unwrap().contains("--port"));
        drop(listener);
        check_port_free(port).unwrap();
    }
}
