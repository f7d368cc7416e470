//! Air-gapped bundles: every image the stack needs in one file, to carry to a machine that can't
//! reach a registry.
//!
//! A bundle is a tar holding, in order:
//! 1. `ONYX-BUNDLE`: a marker naming the format, so a foreign file is recognised at once;
//! 2. `images/NNN.tar`: one `docker save` stream per image;
//! 3. `manifest.json`: onyx's version, and per image its reference, image ID, part name, size
//!    and sha256 (it comes last because the sizes and hashes are known only after writing).
//!
//! Saving streams each image from the engine to a temp file while hashing it, then appends it to
//! the bundle; loading first reads the whole bundle once, checking the marker, the manifest and
//! every part's size and sha256, and only then streams each part from its place in the file to the
//! engine. No image is ever held in memory, and a bad bundle loads nothing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::reference::Reference;
use super::{DockerError, ImageEvent, Reporter};

/// Name and content of the marker entry.
pub const MARKER_NAME: &str = "ONYX-BUNDLE";
pub const MARKER: &str = "onyx image bundle, format 1\n";
pub const MANIFEST_NAME: &str = "manifest.json";
/// `format` in the manifest.
pub const FORMAT: &str = "onyx-bundle";
pub const SCHEMA: u32 = 1;

/// How often byte progress is reported while streaming.
const TICK: Duration = Duration::from_millis(200);
const CHUNK: usize = 256 * 1024;

/// The bundle's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub schema: u32,
    /// The onyx that wrote it.
    pub onyx_version: String,
    /// The Onyx release whose images these are.
    pub onyx_stack: String,
    pub images: Vec<BundledImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledImage {
    /// The reference as the manifests use it.
    pub reference: String,
    /// The engine's image ID (`sha256:…` of its config).
    pub id: String,
    /// Repo digests the engine knew (empty for images never pulled from a registry).
    pub repo_digests: Vec<String>,
    /// Path of its `docker save` stream inside the bundle.
    pub part: String,
    pub size: u64,
    /// sha256 of the part, hex.
    pub sha256: String,
}

fn bad(path: &Path, problem: impl Into<String>) -> DockerError {
    DockerError::BadBundle {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn internal(e: impl std::fmt::Display) -> DockerError {
    DockerError::Io(std::io::Error::other(e.to_string()))
}

/// Write a bundle of `images` (all in the engine already) to `out`. Written to `out.partial` and
/// renamed when complete, so an interrupted save leaves no file that looks finished.
pub async fn save(
    docker: &Docker,
    images: &[String],
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<Manifest, DockerError> {
    // Check every image first: a bundle missing one would fail only on the other machine.
    let mut found = Vec::new();
    for image in images {
        let (r, inspect) = super::images::inspect_local(docker, image).await?;
        found.push((r, inspect));
    }

    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let mut tar = TarOut::create(&partial).await.map_err(|e| {
        DockerError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", partial.display()),
        ))
    })?;
    tar.append_bytes(MARKER_NAME, MARKER.as_bytes()).await?;

    let mut entries = Vec::new();
    for (i, (r, inspect)) in found.into_iter().enumerate() {
        let image = r.original.clone();
        let total = inspect.size.unwrap_or(0).max(0) as u64;
        reporter.image(&image, ImageEvent::Start);
        let part = format!("images/{i:03}.tar");
        let at = tar.begin().await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut last = std::time::Instant::now();
        let mut stream = docker.export_image(&r.local_name());
        while let Some(chunk) = stream.try_next().await? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            tar.write(&chunk).await?;
            if last.elapsed() >= TICK {
                last = std::time::Instant::now();
                reporter.image(&image, progress(size, total.max(size)));
            }
        }
        tar.end(at, &part, size).await?;
        reporter.image(&image, progress(size, size));
        reporter.image(&image, ImageEvent::Done);
        entries.push(BundledImage {
            reference: image,
            id: inspect.id.unwrap_or_default(),
            repo_digests: inspect.repo_digests.unwrap_or_default(),
            part,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        schema: SCHEMA,
        onyx_version: env!("CARGO_PKG_VERSION").into(),
        onyx_stack: crate::stack::ONYX_VERSION.into(),
        images: entries,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(internal)?;
    tar.append_bytes(MANIFEST_NAME, &json).await?;
    tar.finish().await?;
    tokio::fs::rename(&partial, out).await?;
    Ok(manifest)
}

/// The bundle's tar, written by hand so that a part of unknown size streams straight in: a
/// placeholder header, the data, the padding, then the real header over the placeholder. Every
/// byte is written once; nothing is buffered beyond [`CHUNK`].
struct TarOut {
    file: tokio::io::BufWriter<tokio::fs::File>,
    pos: u64,
}

const BLOCK: u64 = 512;

fn tar_header(name: &str, size: u64) -> std::io::Result<[u8; 512]> {
    let mut h = tar::Header::new_gnu();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h.set_cksum();
    Ok(*h.as_bytes())
}

impl TarOut {
    async fn create(path: &Path) -> std::io::Result<TarOut> {
        let file = tokio::fs::File::create(path).await?;
        Ok(TarOut {
            file: tokio::io::BufWriter::with_capacity(CHUNK, file),
            pos: 0,
        })
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data).await?;
        self.pos += data.len() as u64;
        Ok(())
    }

    async fn pad(&mut self) -> std::io::Result<()> {
        let rest = (BLOCK - self.pos % BLOCK) % BLOCK;
        self.write(&vec![0; rest as usize]).await
    }

    async fn append_bytes(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.write(&tar_header(name, data.len() as u64)?).await?;
        self.write(data).await?;
        self.pad().await
    }

    /// Start an entry of yet unknown size; returns where its header goes.
    async fn begin(&mut self) -> std::io::Result<u64> {
        let at = self.pos;
        self.write(&[0; BLOCK as usize]).await?;
        Ok(at)
    }

    /// Finish the entry begun at `at`, now that its size is known.
    async fn end(&mut self, at: u64, name: &str, size: u64) -> std::io::Result<()> {
        self.pad().await?;
        let header = tar_header(name, size)?;
        self.file.seek(std::io::SeekFrom::Start(at)).await?;
        self.file.write_all(&header).await?;
        self.file.seek(std::io::SeekFrom::Start(self.pos)).await?;
        Ok(())
    }

    /// The end-of-archive blocks, then everything to disk.
    async fn finish(mut self) -> std::io::Result<()> {
        self.write(&[0; 2 * BLOCK as usize]).await?;
        self.file.flush().await?;
        self.file.get_ref().sync_all().await
    }
}

fn progress(done: u64, total: u64) -> ImageEvent {
    ImageEvent::Progress {
        done,
        total,
        layers_done: 0,
        layers: 0,
    }
}

/// A bundle that passed every check: its manifest and where each part's bytes sit in the file.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// Per manifest image, in order: (offset in the file, size).
    pub places: Vec<(u64, u64)>,
}

/// Read the whole bundle once and check everything (marker, manifest schema, each part's size
/// and sha256) without loading anything.
pub fn verify(path: &Path) -> Result<Verified, DockerError> {
    let file = std::fs::File::open(path).map_err(|e| bad(path, format!("cannot open it: {e}")))?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Err(bad(path, "the file is empty"));
    }
    // A bundle starts with the marker's tar header; say "foreign" rather than "damaged" when the
    // file is something else altogether.
    let mut head = [0u8; 512];
    let n = (&file).take(512).read(&mut head)?;
    let name_field = &head[..100.min(n)];
    let name_len = name_field
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(name_field.len());
    if &name_field[..name_len] != MARKER_NAME.as_bytes() {
        return Err(bad(
            path,
            format!(
                "it is not an onyx bundle (it does not start with the {MARKER_NAME} marker; a \
                 plain `docker save` file loads with `docker load`)"
            ),
        ));
    }
    let file = {
        use std::io::Seek;
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(0))?;
        file
    };
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(CHUNK, file));
    let damaged = |e: std::io::Error| {
        bad(
            path,
            format!("it is truncated or damaged (not a complete tar archive: {e})"),
        )
    };
    let entries = archive.entries().map_err(damaged)?;
    let mut marker_seen = false;
    let mut manifest: Option<Manifest> = None;
    // part name → (offset, size, sha256)
    let mut parts: Vec<(String, u64, u64, String)> = Vec::new();
    for (index, entry) in entries.enumerate() {
        let mut entry = entry.map_err(damaged)?;
        let name = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        let size = entry.header().size().map_err(damaged)?;
        let offset = entry.raw_file_position();
        if index == 0 {
            if name != MARKER_NAME {
                return Err(bad(
                    path,
                    format!(
                        "it is not an onyx bundle (it starts with {name:?}, not the {MARKER_NAME} \
                         marker; a plain `docker save` file loads with `docker load`)"
                    ),
                ));
            }
            let mut text = String::new();
            (&mut entry)
                .take(1024)
                .read_to_string(&mut text)
                .map_err(damaged)?;
            if text != MARKER {
                return Err(bad(
                    path,
                    format!("unknown bundle format {:?}", text.trim()),
                ));
            }
            marker_seen = true;
        } else if name == MANIFEST_NAME {
            if size > 16 * 1024 * 1024 {
                return Err(bad(path, "the manifest is implausibly large"));
            }
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(damaged)?;
            if text.len() as u64 != size {
                return Err(bad(path, "it is truncated (the manifest is cut short)"));
            }
            let m: Manifest = serde_json::from_slice(&text)
                .map_err(|e| bad(path, format!("its manifest is not valid: {e}")))?;
            manifest = Some(m);
        } else if name.starts_with("images/") && manifest.is_none() {
            let mut hasher = HashWriter(Sha256::new(), 0);
            std::io::copy(&mut entry, &mut hasher).map_err(damaged)?;
            if hasher.1 != size {
                return Err(bad(
                    path,
                    format!(
                        "it is truncated ({name} has {} of its {size} bytes)",
                        hasher.1
                    ),
                ));
            }
            parts.push((name, offset, size, hex::encode(hasher.0.finalize())));
        } else {
            return Err(bad(path, format!("unexpected entry {name:?}")));
        }
    }
    if !marker_seen {
        return Err(bad(path, "it is not an onyx bundle (no entries)"));
    }
    let Some(manifest) = manifest else {
        return Err(bad(
            path,
            "it is truncated (the manifest, written last, is missing)",
        ));
    };
    if manifest.format != FORMAT || manifest.schema != SCHEMA {
        return Err(bad(
            path,
            format!(
                "its manifest is format {:?} schema {}, this onyx reads {FORMAT:?} schema {SCHEMA}",
                manifest.format, manifest.schema
            ),
        ));
    }
    if manifest.images.len() != parts.len() {
        return Err(bad(
            path,
            format!(
                "the manifest lists {} images but the bundle holds {} parts",
                manifest.images.len(),
                parts.len()
            ),
        ));
    }
    let mut places = Vec::new();
    for image in &manifest.images {
        let Some((_, offset, size, sha)) = parts.iter().find(|p| p.0 == image.part) else {
            return Err(bad(
                path,
                format!("{} ({}) is missing", image.part, image.reference),
            ));
        };
        if *size != image.size {
            return Err(bad(
                path,
                format!(
                    "{} ({}) has {size} bytes, the manifest says {}",
                    image.part, image.reference, image.size
                ),
            ));
        }
        if *sha != image.sha256 {
            return Err(bad(
                path,
                format!(
                    "{} ({}) is corrupted: its sha256 is {sha}, the manifest says {}",
                    image.part, image.reference, image.sha256
                ),
            ));
        }
        places.push((*offset, *size));
    }
    Ok(Verified { manifest, places })
}

struct HashWriter(Sha256, u64);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What loading one image gave.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub image: String,
    pub id: String,
}

/// Verify the bundle, then load every image into the engine.
pub async fn load(
    docker: &Docker,
    path: &Path,
    reporter: &dyn Reporter,
) -> Result<Vec<Loaded>, DockerError> {
    reporter.message(&format!("verifying {}", path.display()));
    let owned = path.to_path_buf();
    let verified = tokio::task::spawn_blocking(move || verify(&owned))
        .await
        .map_err(internal)??;
    load_verified(docker, path, &verified, reporter).await
}

/// The name to make a node from when the bundle carries the pinned node image `pinned`
/// (`name:tag@sha256:…`). An engine that loaded an image from a file knows it by name and ID but
/// not by the registry digest (`docker load` keeps no repo digests), so it can't resolve
/// `name:tag@digest`; the bundle recorded that digest and the image ID on the machine that pulled
/// it, and its sha256 sums carried that image here unchanged. So when the bundle's entry for the
/// pinned reference lists the digest and the engine's image under `name:tag` has the bundle's ID,
/// `name:tag` is that very image. `None`: the bundle has no such entry, or it doesn't match.
pub fn node_image_from_bundle(
    manifest: &Manifest,
    pinned: &str,
    engine_id: Option<&str>,
) -> Option<String> {
    let r = Reference::parse(pinned).ok()?;
    let digest = r.digest.as_deref()?;
    let tag = r.tag.as_deref()?;
    let entry = manifest.images.iter().find(|i| i.reference == pinned)?;
    let has_digest = entry
        .repo_digests
        .iter()
        .any(|d| d.ends_with(&format!("@{digest}")));
    (has_digest && engine_id == Some(entry.id.as_str()))
        .then(|| format!("{}:{tag}", r.repository()))
}

/// Load every image of a bundle [`verify`] passed into the engine.
pub async fn load_verified(
    docker: &Docker,
    path: &Path,
    verified: &Verified,
    reporter: &dyn Reporter,
) -> Result<Vec<Loaded>, DockerError> {
    let mut loaded = Vec::new();
    for index in 0..verified.manifest.images.len() {
        loaded.push(load_part(docker, path, verified, index, reporter).await?);
    }
    Ok(loaded)
}

/// Load one image (the `index`th of the manifest) of a bundle [`verify`] passed into the engine,
/// so that a pipeline can move each image on as soon as it is loaded.
pub async fn load_part(
    docker: &Docker,
    path: &Path,
    verified: &Verified,
    index: usize,
    reporter: &dyn Reporter,
) -> Result<Loaded, DockerError> {
    let (Some(image), Some((offset, size))) = (
        verified.manifest.images.get(index),
        verified.places.get(index),
    ) else {
        return Err(bad(path, format!("no image number {index}")));
    };
    reporter.image(&image.reference, ImageEvent::Start);
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(*offset)).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let body = tokio_util::io::ReaderStream::with_capacity(
        tokio::io::AsyncReadExt::take(file, *size),
        CHUNK,
    )
    .inspect_ok(move |chunk| {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    });
    let options = ImportImageOptionsBuilder::new().quiet(true).build();
    let mut answers = docker.import_image_stream(options, body, None);
    let mut ticker = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            next = answers.next() => match next {
                None => break,
                Some(Ok(info)) => {
                    if let Some(text) = info.stream {
                        tracing::debug!("engine: {}", text.trim());
                    }
                }
                Some(Err(e)) => {
                    reporter.image(&image.reference, ImageEvent::Failed(e.to_string()));
                    return Err(e.into());
                }
            },
            _ = ticker.tick() => {
                reporter.image(&image.reference, progress(sent.load(Ordering::Relaxed), *size));
            }
        }
    }
    // The engine must now know the image under its ID and name.
    let r = Reference::parse(&image.reference).map_err(|e| bad(path, e))?;
    let id = match docker.inspect_image(&r.local_name()).await {
        Ok(i) => i.id.unwrap_or_default(),
        Err(e) => {
            reporter.image(&image.reference, ImageEvent::Failed(e.to_string()));
            return Err(e.into());
        }
    };
    if id != image.id {
        let e = bad(
            path,
            format!(
                "{} loaded as {id}, the manifest says {}",
                image.reference, image.id
            ),
        );
        reporter.image(&image.reference, ImageEvent::Failed(e.to_string()));
        return Err(e);
    }
    reporter.image(&image.reference, progress(*size, *size));
    reporter.image(&image.reference, ImageEvent::Done);
    Ok(Loaded {
        image: image.reference.clone(),
        id,
    })
}

/// The part of a file that holds a byte range (used by tests to damage a part on purpose).
pub fn part_range(path: &Path, part: &str) -> Result<(u64, u64), DockerError> {
    let v = verify(path)?;
    v.manifest
        .images
        .iter()
        .zip(v.places)
        .find(|(i, _)| i.part == part)
        .map(|(_, p)| p)
        .ok_or_else(|| bad(path, format!("no part {part}")))
}

#[cfg(test)]
mod tests {
    use std::io::Seek;

    use super::*;

    fn append_bytes<W: Write>(
        builder: &mut tar::Builder<W>,
        name: &str,
        data: &[u8],
    ) -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data)
    }

    /// A bundle with fake parts (no engine needed to check verification).
    fn write_bundle(dir: &Path, parts: &[&[u8]], tweak: impl Fn(&mut Manifest)) -> PathBuf {
        let path = dir.join("b.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        append_bytes(&mut b, MARKER_NAME, MARKER.as_bytes()).unwrap();
        let mut images = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let part = format!("images/{i:03}.tar");
            append_bytes(&mut b, &part, data).unwrap();
            images.push(BundledImage {
                reference: format!("x/img{i}:1"),
                id: format!("sha256:{i}"),
                repo_digests: vec![],
                part,
                size: data.len() as u64,
                sha256: hex::encode(Sha256::digest(data)),
            });
        }
        let mut m = Manifest {
            format: FORMAT.into(),
            schema: SCHEMA,
            onyx_version: "0".into(),
            onyx_stack: "v".into(),
            images,
        };
        tweak(&mut m);
        append_bytes(&mut b, MANIFEST_NAME, &serde_json::to_vec(&m).unwrap()).unwrap();
        b.into_inner().unwrap();
        path
    }

    fn problem(r: Result<Verified, DockerError>) -> String {
        match r {
            Err(DockerError::BadBundle { problem, .. }) => problem,
            other => panic!("expected a bad bundle, got {other:?}"),
        }
    }

    #[test]
    fn a_good_bundle_verifies_with_part_places() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_bundle(dir.path(), &[b"first part", &[7u8; 5000]], |_| {});
        let v = verify(&path).unwrap();
        assert_eq!(v.manifest.images.len(), 2);
        let mut f = std::fs::File::open(&path).unwrap();
        let (offset, size) = v.places[1];
        f.seek(std::io::SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0; size as usize];
        f.read_exact(&mut buf).unwrap();
        assert_eq!(buf, vec![7u8; 5000]);
        assert!(f.seek(std::io::SeekFrom::End(0)).unwrap() > offset + size);
    }

    #[test]
    fn corruption_truncation_and_foreign_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_bundle(dir.path(), &[b"first part", &[7u8; 5000]], |_| {});
        let good = std::fs::read(&path).unwrap();
        let (offset, _) = verify(&path).unwrap().places[1];

        let mut corrupted = good.clone();
        corrupted[offset as usize + 10] ^= 0xff;
        std::fs::write(&path, &corrupted).unwrap();
        let p = problem(verify(&path));
        assert!(
            p.contains("images/001.tar") && p.contains("corrupted"),
            "{p}"
        );

        for cut in [
            good.len() / 2,
            offset as usize + 100,
            good.len() - 1024 - 600,
        ] {
            std::fs::write(&path, &good[..cut]).unwrap();
            let p = problem(verify(&path));
            assert!(p.contains("truncated"), "cut at {cut}: {p}");
        }

        std::fs::write(&path, b"").unwrap();
        assert!(problem(verify(&path)).contains("empty"));

        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let p = problem(verify(&path));
        assert!(
            p.contains("truncated or damaged") || p.contains("not an onyx bundle"),
            "{p}"
        );

        // A plain tar (e.g. a `docker save` file) is foreign.
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        append_bytes(&mut b, "manifest.json", b"[]").unwrap();
        b.into_inner().unwrap();
        let p = problem(verify(&path));
        assert!(p.contains("not an onyx bundle"), "{p}");
    }

    #[test]
    fn the_pinned_node_image_is_used_by_name_when_the_bundle_vouches_for_it() {
        let pinned = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";
        let manifest = |digests: Vec<String>| Manifest {
            format: FORMAT.into(),
            schema: SCHEMA,
            onyx_version: "0".into(),
            onyx_stack: "v".into(),
            images: vec![BundledImage {
                reference: pinned.into(),
                id: "sha256:aaaa".into(),
                repo_digests: digests,
                part: "images/000.tar".into(),
                size: 1,
                sha256: "00".into(),
            }],
        };
        let good = manifest(vec![
            "kindest/node@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
                .into(),
        ]);
        assert_eq!(
            node_image_from_bundle(&good, pinned, Some("sha256:aaaa")).as_deref(),
            Some("kindest/node:v1.36.1")
        );
        // Another image under the tag in the engine, a bundle without the digest, or a bundle
        // without the node image: not vouched for.
        assert_eq!(
            node_image_from_bundle(&good, pinned, Some("sha256:bbbb")),
            None
        );
        assert_eq!(node_image_from_bundle(&good, pinned, None), None);
        assert_eq!(
            node_image_from_bundle(&manifest(vec![]), pinned, Some("sha256:aaaa")),
            None
        );
        assert_eq!(
            node_image_from_bundle(
                &good,
                "kindest/node:v1.35.0@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
                Some("sha256:aaaa")
            ),
            None
        );
    }

    #[test]
    fn manifest_mismatches_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_bundle(dir.path(), &[b"abc"], |m| m.schema = 9);
        assert!(problem(verify(&path)).contains("schema 9"));
        let path = write_bundle(dir.path(), &[b"abc"], |m| m.images[0].size = 4);
        assert!(problem(verify(&path)).contains("the manifest says 4"));
        let path = write_bundle(dir.path(), &[b"abc"], |m| m.images.clear());
        assert!(problem(verify(&path)).contains("lists 0 images"));
    }
}
