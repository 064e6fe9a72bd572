//! What the fake Viber and WhatsApp servers share: files they host for customers (with
//! links that expire, and faults on demand), fetching the links Forecourt sends them, and
//! posting signed webhooks.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A file a fake provider hosts (a customer's photo on Viber's CDN, a WhatsApp media).
#[derive(Debug, Clone)]
pub struct HostedFile {
    pub bytes: Vec<u8>,
    pub mime: String,
    /// When the link stops working (unix ms), if it expires.
    pub expires_at: Option<i64>,
    /// Answer 500 this many more times before serving.
    pub fail_times: u32,
}

/// The files one fake hosts, by key.
#[derive(Clone, Default)]
pub struct Hosted {
    files: Arc<Mutex<HashMap<String, HostedFile>>>,
    next: Arc<Mutex<u64>>,
}

/// What a GET of a hosted file gets.
pub enum Served {
    File(Vec<u8>, String),
    Expired,
    Missing,
    Failed,
}

impl Hosted {
    pub fn add(&self, file: HostedFile) -> String {
        let mut n = self.next.lock().expect("hosted lock");
        *n += 1;
        let key = format!("f{:06}", *n);
        self.files.lock().expect("hosted lock").insert(key.clone(), file);
        key
    }

    pub fn get(&self, key: &str, now: i64) -> Served {
        let mut files = self.files.lock().expect("hosted lock");
        let Some(f) = files.get_mut(key) else { return Served::Missing };
        if f.fail_times > 0 {
            f.fail_times -= 1;
            return Served::Failed;
        }
        if f.expires_at.is_some_and(|t| now >= t) {
            return Served::Expired;
        }
        Served::File(f.bytes.clone(), f.mime.clone())
    }

    pub fn info(&self, key: &str) -> Option<HostedFile> {
        self.files.lock().expect("hosted lock").get(key).cloned()
    }
}

/// A file Forecourt sent a customer, as the fake fetched it from the signed link.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedFile {
    pub size: usize,
    pub sha256: String,
    pub content_type: String,
}

/// Fetch a link the way a provider does before delivering a file.
pub async fn fetch_link(http: &reqwest::Client, url: &str) -> Result<FetchedFile, String> {
    let resp = http.get(url).send().await.map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("fetching {url} answered {}", resp.status()));
    }
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(FetchedFile { size: bytes.len(), sha256: hex::encode(Sha256::digest(&bytes)), content_type })
}

/// Write JSON the way Meta does: every non-ASCII character as a `\uXXXX` escape (UTF-16).
pub fn ascii_json(v: &serde_json::Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Post a signed webhook; returns the HTTP status and the body.
pub async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    header: &str,
    signature: &str,
    body: String,
) -> Result<(u16, String), String> {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header(header, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// Serve a fake's router on an already-bound listener until the returned sender fires
/// (or is dropped).
pub fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// Shared start-up: an HTTP client for the fake's own calls out.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().expect("an HTTP client")
}

/// Chats as a readable transcript: one block per customer, lines in order.
pub fn chat_transcript(title: &str, log: &[(String, String)], name_of: impl Fn(&str) -> String) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for (u, _) in log {
        if !seen.insert(u.as_str()) {
            continue;
        }
        out.push_str(&format!("\n━━ {title} chat · {} ━━\n", name_of(u)));
        for (_, line) in log.iter().filter(|(x, _)| x == u) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_as_meta_does() {
        let v = serde_json::json!({"t": "Салон 🚗"});
        let s = ascii_json(&v);
        assert!(s.is_ascii());
        assert!(s.contains("\\u0421"), "{s}");
        assert!(s.contains("\\ud83d\\ude97"), "a surrogate pair: {s}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v);
    }
}
