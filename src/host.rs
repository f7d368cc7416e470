//! Facts about the machine the stack would run on: memory, CPUs, OS and architecture, and whether
//! the CPU has AVX2 (Vespa's default image needs it).

use serde::Serialize;

use crate::stack::profile::Capacity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    pub os: String,
    pub arch: String,
    pub memory_bytes: u64,
    pub cpus: u32,
    /// `None` where the question doesn't apply (not x86-64).
    pub avx2: Option<bool>,
    /// Where the figures come from ("this host", or "given with --memory/--cpus").
    pub source: String,
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
        }
    }

    pub fn capacity(&self) -> Capacity {
        Capacity {
            memory_bytes: self.memory_bytes,
            cpus: self.cpus,
        }
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
}
