//! Image archives built here (Docker Hub is out of reach): tar entries for a layer, one layer
//! and its config as the `docker save` format (`manifest.json`, `<config>.json`,
//! `<diff_id>/layer.tar`) that the engine's image import reads, and the import itself.

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A regular file.
pub fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, path, data).unwrap();
}

/// A directory.
pub fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_cksum();
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

/// A symbolic link.
pub fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, path, target).unwrap();
}

/// This machine's architecture as images name it.
pub fn arch() -> String {
    std::env::consts::ARCH
        .replace("x86_64", "amd64")
        .replace("aarch64", "arm64")
}

/// `reference` as a `docker save` archive of one `layer` and the image `config` (its `config`,
/// labels, history: `architecture`, `os` and `rootfs` are filled in here). Returns the archive
/// and the config's sha256 (hex), which is the image ID the engine gives it.
pub fn docker_save(reference: &str, layer: &[u8], mut config: Value) -> (Vec<u8>, String) {
    let diff_id = hex::encode(Sha256::digest(layer));
    config["architecture"] = arch().into();
    config["os"] = "linux".into();
    config["rootfs"] =
        serde_json::json!({"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]});
    let config = config.to_string();
    let config_id = hex::encode(Sha256::digest(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": format!("{config_id}.json"),
        "RepoTags": [reference],
        "Layers": [format!("{diff_id}/layer.tar")],
    }])
    .to_string();
    let mut save = tar::Builder::new(Vec::new());
    add(&mut save, &format!("{diff_id}/layer.tar"), layer, 0o644);
    add(
        &mut save,
        &format!("{config_id}.json"),
        config.as_bytes(),
        0o644,
    );
    add(&mut save, "manifest.json", manifest.as_bytes(), 0o644);
    (save.into_inner().unwrap(), config_id)
}

/// Loads a `docker save` archive into the engine (`docker load`), failing the test if it can't.
pub async fn import(docker: &Docker, archive: Vec<u8>, what: &str) {
    let body = bytes::Bytes::from(archive);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    docker
        .import_image_stream(
            ImportImageOptionsBuilder::new().quiet(true).build(),
            stream,
            None,
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("load {what}: {e}"));
}
