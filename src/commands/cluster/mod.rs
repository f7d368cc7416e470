//! `onyx cluster`: onyx's own local cluster, one file per subcommand. `create` makes (or
//! reuses, or restarts) the kind-compatible node and merges its kubeconfig (`--dry-run` prints
//! what it would make, from the engine's facts, and makes nothing); `delete` removes it and our
//! kubeconfig entries, keeping the data volume (or directory) unless `--purge`; `list` and
//! `status` show what the engine has; `load` puts the stack's images into the node.

mod create;
mod delete;
mod list;
mod load;
mod status;

pub use create::create;
pub use delete::delete;
pub use list::list;
pub use load::load;
pub use status::status;

use crate::cluster::{self, kind};
use crate::error::Error;

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

/// The own cluster not made yet is a state with a way out, said as such (exit 3, as the day-2
/// commands say it); a cluster named with `--name` that is not there stays "no cluster named".
fn no_cluster_yet(e: Error, name: &str) -> Error {
    match e {
        Error::Cluster(kind::ClusterError::NotFound(n)) if n == cluster::CLUSTER_NAME => {
            Error::environment(
                format!(
                    "no local cluster yet (no node {})",
                    cluster::node_name(name)
                ),
                "`onyx up` or `onyx cluster create` makes one",
            )
        }
        e => e,
    }
}
