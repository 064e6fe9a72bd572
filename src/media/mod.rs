//! The media store: every customer and staff file kept under the data directory,
//! content-addressed (`media/ab/cd/<sha256>`: the same photo twice is one file), with a
//! media row per occurrence. Files are fetched by the `media_fetch` job (Viber's URLs
//! expire, WhatsApp needs the media-id dance, Telegram has getFile) and served to Viber and
//! WhatsApp by signed, expiring links.

use crate::domain::media::MAX_KEPT_BYTES;
use crate::domain::{MediaId, MessageKind, MessageRowId};
use crate::store::{self, NewJob};
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a download did not produce a file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// Expired link, deleted file, refused: trying again will not help.
    #[error("{0}")]
    Gone(String),
    #[error("the file is {} MB, over the {} MB Forecourt keeps", .0.div_ceil(1 << 20), MAX_KEPT_BYTES >> 20)]
    TooLarge(u64),
    #[error("temporary failure: {0}")]
    Transient(String),
}

/// GET a URL (optionally with a bearer token), refusing bodies over the kept-file limit.
pub async fn http_get(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> Result<Vec<u8>, FetchError> {
    let mut req = http.get(url).timeout(Duration::from_secs(120));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let mut resp = req.send().await.map_err(|e| FetchError::Transient(e.to_string()))?;
    let status = resp.status();
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        return Err(FetchError::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(FetchError::Gone(format!("the link answered HTTP {} (expired or removed)", status.as_u16())));
    }
    if let Some(len) = resp.content_length() {
        if len > MAX_KEPT_BYTES {
            return Err(FetchError::TooLarge(len));
        }
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Transient(e.to_string()))? {
        buf.extend_from_slice(&chunk);
        if buf.len() as u64 > MAX_KEPT_BYTES {
            return Err(FetchError::TooLarge(buf.len() as u64));
        }
    }
    Ok(buf)
}

/// Download a URL straight into the media store, never whole in memory: the body is
/// streamed to a file beside the store while it is hashed, then renamed to its content
/// address. Refused (and nothing kept) past `max_bytes`, whether the server says so up front
/// or the body runs over.
pub async fn download_into(
    store: &MediaStore,
    http: &reqwest::Client,
    url: &str,
    max_bytes: u64,
) -> Result<Kept, FetchError> {
    use tokio::io::AsyncWriteExt;
    let too_large = |n: u64| {
        FetchError::Gone(format!("the file is {} MB, over the {} MB limit", n.div_ceil(1 << 20), max_bytes >> 20))
    };
    let mut resp = http
        .get(url)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .map_err(|e| FetchError::Transient(e.to_string()))?;
    let status = resp.status();
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        return Err(FetchError::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(FetchError::Gone(format!("the link answered HTTP {} (expired or removed)", status.as_u16())));
    }
    if let Some(len) = resp.content_length().filter(|l| *l > max_bytes) {
        return Err(too_large(len));
    }
    let io = |e: std::io::Error| FetchError::Transient(format!("writing the file: {e}"));
    let dir = store.root.join("incoming");
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let mut name = [0u8; 12];
    getrandom::fill(&mut name).map_err(|e| FetchError::Transient(e.to_string()))?;
    let tmp = dir.join(hex::encode(name));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Transient(e.to_string()))? {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(too_large(size));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        let sha = hex::encode(hasher.finalize());
        let rel = MediaStore::rel_path(&sha);
        let path = store.root.join(&rel);
        if tokio::fs::try_exists(&path).await.map_err(io)? {
            let _ = tokio::fs::remove_file(&tmp).await;
        } else {
            tokio::fs::create_dir_all(path.parent().expect("a nested path")).await.map_err(io)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        }
        Ok(Kept { sha256: sha, path: rel, size })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// Files on disk, by content.
#[derive(Clone, Debug)]
pub struct MediaStore {
    root: PathBuf,
}

/// A file now on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub sha256: String,
    /// Relative to the store's root.
    pub path: String,
    pub size: u64,
}

impl MediaStore {
    pub fn new(data_dir: &Path) -> MediaStore {
        MediaStore { root: data_dir.join("media") }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn rel_path(sha: &str) -> String {
        format!("{}/{}/{sha}", &sha[..2], &sha[2..4])
    }

    /// Keep these bytes off the async runtime's threads (files run to 100 MB: hashing and
    /// writing them would stall every task on the thread).
    pub async fn keep(&self, bytes: Vec<u8>) -> std::io::Result<(Kept, Vec<u8>)> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.put(&bytes).map(|k| (k, bytes)))
            .await
            .map_err(|e| std::io::Error::other(format!("the writer task failed: {e}")))?
    }

    /// Read a kept file without blocking the runtime.
    pub async fn read_async(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(rel)).await
    }

    /// Keep these bytes; a file with the same content is written once. Blocking: async
    /// code uses [`MediaStore::keep`].
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<Kept> {
        let sha = hex::encode(Sha256::digest(bytes));
        let rel = Self::rel_path(&sha);
        let path = self.root.join(&rel);
        if !path.exists() {
            let dir = path.parent().expect("a nested path");
            std::fs::create_dir_all(dir)?;
            // Write beside, then rename: a crash never leaves half a file under the name.
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
        }
        Ok(Kept { sha256: sha, path: rel, size: bytes.len() as u64 })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Blocking: async code uses [`MediaStore::read_async`].
    pub fn read(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(rel))
    }

    /// Remove files no row points to and older than `min_age` (a file is written just
    /// before its row is committed; a young one may be on its way). Returns (files
    /// removed, bytes freed).
    pub fn gc(&self, referenced: &HashSet<String>, min_age: std::time::Duration) -> std::io::Result<(u64, u64)> {
        let mut removed = (0, 0);
        if !self.root.exists() {
            return Ok(removed);
        }
        for a in std::fs::read_dir(&self.root)? {
            let a = a?.path();
            if !a.is_dir() {
                continue;
            }
            for b in std::fs::read_dir(&a)? {
                let b = b?.path();
                if !b.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(&b)? {
                    let f = f?.path();
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    // Temporary files of a write in progress start with a dot; leave them.
                    if name.len() == 64 && !referenced.contains(name) {
                        let meta = f.metadata()?;
                        let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
                        if age < min_age {
                            continue;
                        }
                        let size = meta.len();
                        std::fs::remove_file(&f)?;
                        removed.0 += 1;
                        removed.1 += size;
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Signed, expiring links to kept files: `/media/{id}/{name}?exp=…&sig=…`.
#[derive(Clone)]
pub struct Links {
    key: Vec<u8>,
}

/// How long a link lasts: long enough for Viber and WhatsApp to fetch it, short enough not
/// to linger in a chat history.
pub const LINK_TTL_MS: i64 = 24 * 60 * 60 * 1000;

impl Links {
    pub fn new(key: Vec<u8>) -> Links {
        Links { key }
    }

    fn sig(&self, id: MediaId, exp: i64) -> String {
        crate::channels::hmac_hex(&self.key, format!("media:{}:{exp}", id.0).as_bytes())
    }

    pub fn url(&self, public_url: &str, id: MediaId, name: &str, now: i64) -> String {
        let exp = now + LINK_TTL_MS;
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
        format!("{public_url}/media/{}/{safe}?exp={exp}&sig={}", id.0, self.sig(id, exp))
    }

    /// Whether a link's signature holds and it has not expired.
    pub fn check(&self, id: MediaId, exp: i64, sig: &str, now: i64) -> Result<(), &'static str> {
        if !crate::channels::hmac_hex_ok(&self.key, format!("media:{}:{exp}", id.0).as_bytes(), sig) {
            return Err("the link's signature does not match");
        }
        if exp < now {
            return Err("the link has expired");
        }
        Ok(())
    }
}

/// The key for media links: kept in the database, so links outlive restarts and every
/// instance signs alike. Made on first start.
pub async fn link_key(store: &store::Store) -> anyhow::Result<Vec<u8>> {
    if let Some(k) = store.kv_get("media_link_key").await? {
        return hex::decode(k).context("the stored media link key is not hex");
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the media link key: {e}"))?;
    store.kv_insert_if_absent("media_link_key", &hex::encode(key)).await?;
    // Another instance may have won the race: use what is stored.
    let k = store.kv_get("media_link_key").await?.context("the media link key vanished")?;
    hex::decode(k).context("the stored media link key is not hex")
}

/// The job that keeps a message's file.
pub fn fetch_job(message: MessageRowId, now: i64) -> NewJob {
    crate::jobs::Job::MediaFetch { message }.into_new(
        format!("media:{}", message.0),
        Some(format!("media:{}", message.0)),
        now,
    )
}

/// Whether a message of this kind has a file worth keeping (stickers are not).
pub fn keeps_file(kind: MessageKind) -> bool {
    kind.has_file() && kind != MessageKind::Sticker
}

/// The fetch job: a handler room, above this module (nothing here uses it).
pub mod fetch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_are_kept_once_and_gc_removes_the_unreferenced() {
        let dir = tempfile::tempdir().unwrap();
        let s = MediaStore::new(dir.path());
        let a = s.put(b"photo one").unwrap();
        let again = s.put(b"photo one").unwrap();
        let b = s.put(b"photo two").unwrap();
        assert_eq!(a, again);
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(s.read(&a.path).unwrap(), b"photo one");
        assert!(a.path.starts_with(&format!("{}/{}/", &a.sha256[..2], &a.sha256[2..4])));
        let keep: HashSet<String> = [a.sha256.clone()].into();
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(s.gc(&keep, hour).unwrap(), (0, 0), "a young file may still get its row");
        assert_eq!(s.gc(&keep, std::time::Duration::ZERO).unwrap(), (1, 9));
        assert!(s.path(&a.path).exists());
        assert!(!s.path(&b.path).exists());
        assert_eq!(s.gc(&keep, std::time::Duration::ZERO).unwrap(), (0, 0));
    }

    #[test]
    fn links_are_signed_and_expire() {
        let l = Links::new(b"k".to_vec());
        let url = l.url("https://crm.example", MediaId(7), "my car.jpg", 1_000);
        assert!(url.starts_with("https://crm.example/media/7/my_car.jpg?exp="), "{url}");
        let exp: i64 = url.split("exp=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
        let sig = url.split("sig=").nth(1).unwrap();
        assert_eq!(l.check(MediaId(7), exp, sig, 1_000), Ok(()));
        assert!(l.check(MediaId(8), exp, sig, 1_000).is_err(), "another file");
        assert!(l.check(MediaId(7), exp + 1, sig, 1_000).is_err(), "a longer life");
        assert_eq!(l.check(MediaId(7), exp, sig, exp + 1), Err("the link has expired"));
        assert!(Links::new(b"other".to_vec()).check(MediaId(7), exp, sig, 1_000).is_err());
    }
}
