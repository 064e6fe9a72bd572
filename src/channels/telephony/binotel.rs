//! Binotel's "API CALL COMPLETED" push: form data with `requestType` and the call under
//! `callDetails[...]`. Binotel writes the customer's number without the country code
//! (`0971234567`), the start as unix seconds, and the direction as `0` (incoming) or `1`
//! (outgoing). Binotel keeps recordings behind its own API, so a Binotel call carries a
//! recording only when the push includes a link to it (`callDetails[callRecord]`).

use super::{Fields, ParseError, Read, ReadContext};
use crate::domain::call::{CallDirection, CallEvent, CallSource, Disposition, Provider};

/// Binotel's dispositions.
pub fn disposition(raw: Option<&str>) -> (Disposition, Option<String>) {
    let Some(raw) = raw else { return (Disposition::Other, None) };
    let d = match raw.trim().to_uppercase().as_str() {
        "ANSWER" | "TRANSFER" | "VM-SUCCESS" | "SUCCESS" => Disposition::Answered,
        "NOANSWER" | "NO ANSWER" => Disposition::NoAnswer,
        "BUSY" => Disposition::Busy,
        "CANCEL" => Disposition::Cancelled,
        "VM" => Disposition::Voicemail,
        "CHANUNAVAIL" | "FAILED" | "CONGESTION" => Disposition::Failed,
        "ONLINE" => Disposition::InProgress,
        _ => return (Disposition::Other, Some(raw.chars().take(40).collect())),
    };
    (d, None)
}

/// The request types that carry a call; others (Binotel's settings pings) are ignored.
const CALL_REQUESTS: [&str; 2] = ["apiCallCompleted", "apiCallSettings"];

pub fn read(f: &Fields, cx: &ReadContext<'_>) -> Read {
    let request = f.require("requestType")?;
    if !CALL_REQUESTS.contains(&request) {
        return Ok(None);
    }
    let d = |k: &str| format!("callDetails[{k}]");
    let get = |k: &str| f.get(&d(k));
    let id = get("generalCallID").ok_or(ParseError::Missing("callDetails[generalCallID]"))?;
    if id.len() > 128 {
        return Err(ParseError::Bad {
            field: "callDetails[generalCallID]",
            expected: "at most 128 characters",
            value: id.into(),
        });
    }
    let direction = match get("callType").ok_or(ParseError::Missing("callDetails[callType]"))? {
        "0" | "incoming" | "in" => CallDirection::Inbound,
        "1" | "outgoing" | "out" => CallDirection::Outbound,
        other => {
            return Err(ParseError::Bad {
                field: "callDetails[callType]",
                expected: "0 (incoming) or 1 (outgoing)",
                value: other.into(),
            })
        }
    };
    let start = get("startTime").ok_or(ParseError::Missing("callDetails[startTime]"))?;
    let started_at =
        start.parse::<i64>().ok().and_then(crate::domain::text::seconds_to_ms).filter(|t| *t > 0).ok_or_else(|| {
            ParseError::Bad { field: "callDetails[startTime]", expected: "unix seconds", value: start.into() }
        })?;
    let secs = |k: &'static str, name: &str| -> Result<Option<i64>, ParseError> {
        let v = Fields::from_pairs(f.get(&d(name)).map(|v| ("v", v)));
        v.seconds("v").map_err(|_| ParseError::Bad { field: k, expected: "a number of seconds", value: "…".into() })
    };
    let (disposition, raw_disposition) = disposition(get("disposition"));
    let billsec = secs("callDetails[billsec]", "billsec")?;
    let wait_s = secs("callDetails[waitsec]", "waitsec")?;
    Ok(Some(CallEvent {
        provider: Provider::Binotel,
        external_id: id.to_string(),
        direction,
        caller: get("externalNumber").and_then(|n| cx.key.caller(n)),
        disposition,
        raw_disposition,
        started_at,
        duration_s: match (billsec, wait_s) {
            (Some(b), Some(w)) => Some(b + w),
            _ => None,
        },
        billsec,
        wait_s,
        recording_url: f.url(&d("callRecord")),
        employee_ext: f.text(&d("internalNumber")),
        employee_name: f.text("callDetails[employeeData][name]"),
        department: None,
        source: CallSource {
            // The name of the dealership's line the customer dialled.
            pool: f.text("callDetails[pbxNumberData][name]"),
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
        },
        card_url: f.url(&d("linkToCallRecordInMyBusiness")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::PhoneKey;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
    }

    #[test]
    fn a_completed_call_reads_every_field() {
        let key = PhoneKey::new(vec![9; 32]).unwrap();
        let cx = ReadContext { key: &key, timezone: chrono_tz::Europe::Kyiv };
        let body = form(&[
            ("requestType", "apiCallCompleted"),
            ("callDetails[generalCallID]", "4242"),
            ("callDetails[startTime]", "1796199871"),
            ("callDetails[callType]", "0"),
            ("callDetails[disposition]", "ANSWER"),
            ("callDetails[billsec]", "62"),
            ("callDetails[waitsec]", "13"),
            ("callDetails[externalNumber]", "0971234567"),
            ("callDetails[internalNumber]", "102"),
            ("callDetails[employeeData][name]", "Taras Bondar"),
        ]);
        let e = read(&Fields::read(&body, None).unwrap(), &cx).unwrap().unwrap();
        assert_eq!(e.provider, Provider::Binotel);
        assert_eq!(e.external_id, "4242");
        assert_eq!(e.started_at, 1_796_199_871_000);
        assert_eq!(e.caller, key.caller("+380971234567"), "the same hash as Ringostat's +380 form");
        assert_eq!(e.employee_ext.as_deref(), Some("102"));
        assert_eq!(e.employee_name.as_deref(), Some("Taras Bondar"));
        assert_eq!((e.billsec, e.wait_s, e.duration_s), (Some(62), Some(13), Some(75)));
        assert!(e.answered());
    }

    #[test]
    fn dispositions_and_other_requests() {
        for (raw, d) in [
            ("NOANSWER", Disposition::NoAnswer),
            ("BUSY", Disposition::Busy),
            ("CANCEL", Disposition::Cancelled),
            ("VM", Disposition::Voicemail),
            ("ANSWER", Disposition::Answered),
        ] {
            assert_eq!(disposition(Some(raw)).0, d, "{raw}");
        }
        assert_eq!(disposition(Some("WEIRD")), (Disposition::Other, Some("WEIRD".into())));
        let key = PhoneKey::new(vec![9; 32]).unwrap();
        let cx = ReadContext { key: &key, timezone: chrono_tz::Europe::Kyiv };
        let ping = Fields::read(&form(&[("requestType", "ping")]), None).unwrap();
        assert_eq!(read(&ping, &cx), Ok(None));
        let bad = Fields::read(
            &form(&[
                ("requestType", "apiCallCompleted"),
                ("callDetails[generalCallID]", "1"),
                ("callDetails[callType]", "0"),
                ("callDetails[startTime]", "noon"),
            ]),
            None,
        )
        .unwrap();
        assert!(read(&bad, &cx).unwrap_err().to_string().contains("startTime"));
    }
}
