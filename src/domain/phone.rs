//! Phone numbers, which Forecourt never keeps. A caller's number is normalised to
//! international form ([`normalise`]), then turned at once into a keyed hash
//! ([`PhoneKey::caller`]) and its last two digits for display. Only the [`Caller`] leaves
//! the parser that read the number; the readable number lives in no row, no log, no topic.
//!
//! Pure: the key is given by the caller (settings or a file in the data directory).

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// The country whose national numbers (`0XXXXXXXXX`, `80…`) are read: Ukraine.
const COUNTRY: &str = "380";

/// A number in international form, digits only (`380XXXXXXXXX`). Never stored, never
/// printed: `Debug` hides all but the last two digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone(…{})", self.tail())
    }
}

impl Phone {
    /// The last two digits, which staff may see (`67` in `…67`).
    pub fn tail(&self) -> String {
        self.0[self.0.len() - 2..].to_string()
    }
}

/// Normalise a number as telephony providers and messengers write it: `+380 97 123 45 67`,
/// `380971234567`, `0971234567`, `80971234567`, `(097) 123-45-67` all give `380971234567`.
/// Numbers of other countries are kept in their international form (`+48…` → `48…`). An
/// internal extension (`101`), a hidden number or text gives `None`.
pub fn normalise(raw: &str) -> Option<Phone> {
    let raw = raw.trim();
    if raw.chars().any(|c| !(c.is_ascii_digit() || " +-()./".contains(c))) {
        return None;
    }
    let mut digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if let Some(rest) = digits.strip_prefix("00") {
        digits = rest.to_string();
    }
    let international = if digits.len() == 10 && digits.starts_with('0') {
        format!("38{digits}")
    } else if digits.len() == 11 && digits.starts_with("80") {
        format!("3{digits}")
    } else if digits.len() == 9 && !digits.starts_with('0') && !raw.starts_with('+') {
        // A Ukrainian number without its trunk zero (`971234567`), as some PBXs write it.
        format!("{COUNTRY}{digits}")
    } else {
        digits
    };
    // E.164: at most 15 digits; shorter than 10 is an extension or a service number.
    let ok = (10..=15).contains(&international.len()) && !international.starts_with('0');
    let ok = ok && (!international.starts_with(COUNTRY) || international.len() == 12);
    ok.then_some(Phone(international))
}

/// A keyed hash of a normalised number: the only form in which a number is matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneHash(pub String);

/// What is kept of a caller: the hash that matches them and the two digits staff see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub hash: PhoneHash,
    /// The last two digits, e.g. `67`.
    pub tail: String,
}

impl Caller {
    /// `…67`, as staff see a caller.
    pub fn shown(&self) -> String {
        format!("…{}", self.tail)
    }
}

/// The secret that keys the hash, so a leaked database cannot be reversed by hashing every
/// possible number (there are only about 10⁹ Ukrainian mobiles).
#[derive(Clone)]
pub struct PhoneKey(Vec<u8>);

impl fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneKey(…)")
    }
}

/// A key shorter than this is refused.
pub const MIN_KEY_BYTES: usize = 16;

impl PhoneKey {
    pub fn new(key: Vec<u8>) -> Result<PhoneKey, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!("must be at least {MIN_KEY_BYTES} bytes"));
        }
        Ok(PhoneKey(key))
    }

    pub fn hash(&self, phone: &Phone) -> PhoneHash {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(phone.0.as_bytes());
        PhoneHash(hex::encode(mac.finalize().into_bytes()))
    }

    /// Read a number and keep only what may be kept of it.
    pub fn caller(&self, raw: &str) -> Option<Caller> {
        let p = normalise(raw)?;
        Some(Caller { hash: self.hash(&p), tail: p.tail() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalise(s).map(|p| p.0)
    }

    #[test]
    fn ukrainian_numbers_in_every_usual_form_become_one() {
        for raw in [
            "0971234567",
            "80971234567",
            "380971234567",
            "+380971234567",
            "+38 (097) 123-45-67",
            "00380971234567",
            "971234567",
            " 097 123 45 67 ",
        ] {
            assert_eq!(n(raw).as_deref(), Some("380971234567"), "{raw}");
        }
    }

    #[test]
    fn extensions_hidden_numbers_and_text_are_not_numbers() {
        for raw in ["", "101", "anonymous", "Unknown", "+", "12345", "38097123456", "3809712345678", "0123"] {
            assert_eq!(n(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(n("+48 601 234 567").as_deref(), Some("48601234567"));
        assert_eq!(n("+1 (415) 555-2671").as_deref(), Some("14155552671"));
    }

    #[test]
    fn the_hash_is_keyed_and_shows_two_digits() {
        let a = PhoneKey::new(vec![1; 32]).unwrap();
        let b = PhoneKey::new(vec![2; 32]).unwrap();
        let x = a.caller("0971234567").unwrap();
        assert_eq!(x, a.caller("+380971234567").unwrap(), "same number, same hash");
        assert_ne!(x.hash, b.caller("0971234567").unwrap().hash, "another key, another hash");
        assert_ne!(x.hash, a.caller("0971234568").unwrap().hash);
        assert_eq!(x.shown(), "…67");
        assert!(!x.hash.0.contains("971234567"));
        assert_eq!(x.hash.0.len(), 64);
        assert!(PhoneKey::new(vec![1; 8]).is_err());
    }

    #[test]
    fn debug_never_prints_a_number() {
        let p = normalise("0971234567").unwrap();
        assert_eq!(format!("{p:?}"), "Phone(…67)");
        let k = PhoneKey::new(b"0971234567-secret-key".to_vec()).unwrap();
        assert!(!format!("{k:?}").contains("097"));
    }
}
