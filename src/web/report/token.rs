//! The reporting page's tokens: random, kept only as hashes, the session's cookie and the
//! CSRF token derived from it. Shared by signing in (`auth`) and every page (`page`).

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "forecourt_session";

/// A fresh random token, as 64 hex characters.
pub fn new_token() -> anyhow::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    Ok(hex::encode(b))
}

/// What is kept of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session: derived from the cookie, so it needs no storage, and a page
/// on another site (which cannot read the cookie) cannot know it.
pub fn csrf_of(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("csrf:{session_token}").as_bytes()))
}

pub(super) fn looks_like_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The session token in the request's cookie.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| looks_like_token(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_are_random_hex_and_kept_hashed() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(looks_like_token(&a));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
        assert_ne!(csrf_of(&a), hash(&a));
        assert!(!looks_like_token("../../etc"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let t = "a".repeat(64);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("x=1; {COOKIE}={t}; y=2")).unwrap());
        assert_eq!(session_token(&h), Some(t));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("forecourt_session=short"));
        assert_eq!(session_token(&h), None);
    }
}
