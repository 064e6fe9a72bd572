//! Telephony providers' webhooks, read into the one [`CallEvent`] every provider becomes
//! (`domain::call`). One module per provider; nothing outside it knows a provider's field
//! names. A caller's number is hashed here, as it is read ([`PhoneKey::caller`]): no
//! readable number leaves this module.
//!
//! Ringostat lets the integrator send JSON or form data; Binotel sends form data with
//! bracketed keys (`callDetails[generalCallID]`). Both are first read into [`Fields`], a flat
//! map of texts, so each provider reads its fields one way.

pub mod binotel;
pub mod ringostat;

use crate::domain::call::CallEvent;
use crate::domain::phone::PhoneKey;
use std::collections::HashMap;

/// How a provider's event could not be read (answered 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is neither a JSON object nor form data: {0}")]
    Body(String),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{field}` is not {expected}: {value:?}")]
    Bad { field: &'static str, expected: &'static str, value: String },
}

/// A webhook body as flat texts: JSON values (strings, numbers, booleans) and form fields
/// alike. Nested JSON objects are flattened with brackets, as forms write them
/// (`{"callDetails": {"billsec": 5}}` → `callDetails[billsec]`).
#[derive(Debug, Default, Clone)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    /// Read a body: JSON when it looks like JSON (or says so), form data otherwise.
    pub fn read(body: &[u8], content_type: Option<&str>) -> Result<Fields, ParseError> {
        let json = content_type.is_some_and(|c| c.contains("json"))
            || body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{');
        if json {
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| ParseError::Body(e.to_string()))?;
            let serde_json::Value::Object(map) = v else {
                return Err(ParseError::Body("a JSON body must be an object".into()));
            };
            let mut out = HashMap::new();
            flatten("", &serde_json::Value::Object(map), &mut out);
            return Ok(Fields(out));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ParseError::Body("not UTF-8".into()));
        }
        let out: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        if out.is_empty() {
            return Err(ParseError::Body("empty".into()));
        }
        Ok(Fields(out))
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Fields {
        Fields(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// A field's text, trimmed; empty is absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    pub fn require(&self, name: &'static str) -> Result<&str, ParseError> {
        self.get(name).ok_or(ParseError::Missing(name))
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(crate::domain::text::clean_name).filter(|s| !s.is_empty())
    }

    /// A whole number of seconds (Ringostat may write `12` or `12.0`).
    pub fn seconds(&self, name: &'static str) -> Result<Option<i64>, ParseError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let bad = || ParseError::Bad { field: name, expected: "a number of seconds", value: v.to_string() };
        let n: f64 = v.parse().map_err(|_| bad())?;
        if !(0.0..=7.0 * 86_400.0).contains(&n) {
            return Err(bad());
        }
        Ok(Some(n as i64))
    }

    /// A link: http(s) only.
    pub fn url(&self, name: &str) -> Option<String> {
        self.get(name).filter(|u| u.starts_with("https://") || u.starts_with("http://")).map(str::to_string)
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut HashMap<String, String>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}[{k}]") };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), if *b { "1" } else { "0" }.to_string());
        }
        Value::Null | Value::Array(_) => {}
    }
}

/// What reading a provider's event needs besides its body.
#[derive(Debug, Clone)]
pub struct ReadContext<'a> {
    pub key: &'a PhoneKey,
    /// Ringostat writes local times without an offset.
    pub timezone: chrono_tz::Tz,
}

/// One event read, or a reason it is not a call event we keep (`None`: a provider's
/// ping or an event kind we do not use; answered 200 and ignored).
pub type Read = Result<Option<CallEvent>, ParseError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_read_the_same() {
        let j = Fields::read(br#"{"uniqueid":"u1","billsec":12,"has_recording":true,"x":null}"#, None).unwrap();
        let f =
            Fields::read(b"uniqueid=u1&billsec=12&has_recording=1", Some("application/x-www-form-urlencoded")).unwrap();
        for k in ["uniqueid", "billsec", "has_recording"] {
            assert_eq!(j.get(k), f.get(k), "{k}");
        }
        assert_eq!(j.seconds("billsec"), Ok(Some(12)));
        assert_eq!(j.get("x"), None);
    }

    #[test]
    fn nested_json_flattens_like_a_form() {
        let j =
            Fields::read(br#"{"callDetails":{"generalCallID":"7","employeeData":{"name":"Oksana"}}}"#, None).unwrap();
        assert_eq!(j.get("callDetails[generalCallID]"), Some("7"));
        assert_eq!(j.get("callDetails[employeeData][name]"), Some("Oksana"));
    }

    #[test]
    fn unreadable_bodies_say_why() {
        assert!(matches!(Fields::read(b"{not json", None), Err(ParseError::Body(_))));
        assert!(matches!(Fields::read(b"[1,2]", Some("application/json")), Err(ParseError::Body(_))));
        assert!(matches!(Fields::read(b"", None), Err(ParseError::Body(_))));
        assert!(matches!(Fields::read(&[0xff, 0xfe, b'='], None), Err(ParseError::Body(_))));
        let f = Fields::from_pairs([("billsec", "soon"), ("n", "-1")]);
        assert!(matches!(f.seconds("billsec"), Err(ParseError::Bad { field: "billsec", .. })));
        assert!(f.seconds("n").is_err());
    }
}
