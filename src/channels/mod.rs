//! Channel adapters: each messenger's wire format in, [`crate::domain::message::Inbound`] out, and
//! sends back. Nothing outside a channel module knows that messenger's JSON.

pub mod erp;
pub mod telegram;
pub mod telephony;
pub mod viber;
pub mod whatsapp;

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Hex HMAC-SHA256 of `body` keyed with `key` (Viber's and WhatsApp's webhook signatures,
/// the ERP contract, signed media links).
pub fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given_hex` is the HMAC-SHA256 of `body` under `key`, compared in constant time.
pub fn hmac_hex_ok(key: &[u8], body: &[u8], given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// A file for a customer on Viber or WhatsApp: fetched by the provider from a signed link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedFile {
    pub send_as: crate::domain::media::SendAs,
    pub url: String,
    pub name: String,
    pub size: u64,
    pub caption: Option<String>,
}

/// One message to a customer, whatever the messenger.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text(String),
    File(LinkedFile),
    /// A question with reply buttons: (payload, title).
    Buttons {
        text: String,
        buttons: Vec<(String, String)>,
    },
    /// A WhatsApp message template (the only thing allowed outside the 24-hour window).
    Template {
        name: String,
        language: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_a_known_vector_and_rejects_changes() {
        // RFC 4231 test case 2.
        let mac = hmac_hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_hex_ok(b"Jefe", b"what do ya want for nothing?", &mac));
        assert!(hmac_hex_ok(b"Jefe", b"what do ya want for nothing?", &mac.to_uppercase()));
        assert!(!hmac_hex_ok(b"Jefe", b"what do ya want for nothing!", &mac));
        assert!(!hmac_hex_ok(b"jefe", b"what do ya want for nothing?", &mac));
        assert!(!hmac_hex_ok(b"Jefe", b"what do ya want for nothing?", "not hex"));
        assert!(!hmac_hex_ok(b"Jefe", b"what do ya want for nothing?", ""));
    }
}
