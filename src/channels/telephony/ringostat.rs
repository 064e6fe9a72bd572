//! Ringostat's webhooks and its call log API (`GET {api}/calls/list`), by Ringostat's own
//! field names. The integrator picks the events ("call started", "call ended") and the
//! parameters in Ringostat's cabinet; the README lists which. Times are local, without an
//! offset, in the dealership's time zone (`FORECOURT_TIMEZONE`).

use super::{Fields, ParseError, Read, ReadContext};
use crate::domain::call::{CallDirection, CallEvent, CallSource, Disposition, Provider};
use chrono::{NaiveDateTime, TimeZone};

/// Ringostat's export answers at most this many calls per request.
pub const LIST_CAP: usize = 6_500;

/// Ringostat's dispositions. `PROPER` is Ringostat's "answered, and a proper (target) call".
pub fn disposition(raw: Option<&str>) -> (Disposition, Option<String>) {
    let Some(raw) = raw else { return (Disposition::Calling, None) };
    let d = match raw.trim().to_uppercase().replace('_', " ").as_str() {
        "ANSWERED" | "PROPER" => Disposition::Answered,
        "NO ANSWER" | "NOANSWER" => Disposition::NoAnswer,
        "BUSY" => Disposition::Busy,
        "FAILED" => Disposition::Failed,
        "VOICEMAIL" => Disposition::Voicemail,
        "CALLING" | "RINGING" => Disposition::Calling,
        "IN PROGRESS" | "INPROGRESS" => Disposition::InProgress,
        _ => return (Disposition::Other, Some(raw.chars().take(40).collect())),
    };
    (d, None)
}

/// `2026-12-02 10:24:31` in the dealership's time zone, as unix ms.
pub fn local_time(field: &'static str, v: &str, tz: chrono_tz::Tz) -> Result<i64, ParseError> {
    let bad = || ParseError::Bad { field, expected: "a time like 2026-12-02 10:24:31", value: v.to_string() };
    let naive = NaiveDateTime::parse_from_str(v.trim(), "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(v.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| bad())?;
    // A time in the hour the clocks go back is ambiguous: the earlier one is taken. One in
    // the hour they skip does not exist: read an hour later.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .map(|t| t.timestamp_millis())
        .ok_or_else(bad)
}

/// One webhook body (or one row of the call log, read the same way).
pub fn read(f: &Fields, cx: &ReadContext<'_>) -> Read {
    let id = f.require("uniqueid")?;
    if id.len() > 128 {
        return Err(ParseError::Bad { field: "uniqueid", expected: "at most 128 characters", value: id.into() });
    }
    let direction = match f.require("call_type")?.to_lowercase().as_str() {
        "in" | "callback" => CallDirection::Inbound,
        "out" => CallDirection::Outbound,
        other => {
            return Err(ParseError::Bad { field: "call_type", expected: "in, out or callback", value: other.into() })
        }
    };
    // The customer's side: who called in, or whom a manager called.
    let customer = match direction {
        CallDirection::Inbound => f.get("caller"),
        CallDirection::Outbound => f.get("dst"),
    };
    let (disposition, raw_disposition) = disposition(f.get("disposition"));
    let has_recording = f.get("has_recording").is_none_or(|v| !matches!(v, "0" | "false" | "no"));
    Ok(Some(CallEvent {
        provider: Provider::Ringostat,
        external_id: id.to_string(),
        direction,
        caller: customer.and_then(|c| cx.key.caller(c)),
        disposition,
        raw_disposition,
        started_at: local_time("calldate", f.require("calldate")?, cx.timezone)?,
        duration_s: f.seconds("duration")?,
        billsec: f.seconds("billsec")?,
        wait_s: f.seconds("waittime")?,
        recording_url: if has_recording { f.url("recording") } else { None },
        employee_ext: f.text("employee_number"),
        employee_name: f.text("employee_fio"),
        department: f.text("department"),
        source: CallSource {
            pool: f.text("pool_name"),
            utm_source: f.text("utm_source"),
            utm_medium: f.text("utm_medium"),
            utm_campaign: f.text("utm_campaign"),
        },
        card_url: f.url("call_card"),
    }))
}

/// Ringostat's call log API (`GET {api}/calls/list`, `Auth-key` header).
#[derive(Debug, Clone)]
pub struct RingostatApi {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// Why a window of the call log could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("Ringostat's API answered HTTP {0}")]
    Status(u16),
    #[error("Ringostat's API could not be reached: {0}")]
    Unreachable(String),
    #[error("Ringostat's answer does not read: {0}")]
    Unreadable(String),
}

impl RingostatApi {
    pub fn new(http: reqwest::Client, base: &str, key: &str) -> RingostatApi {
        RingostatApi { http, base: base.trim_end_matches('/').to_string(), key: key.to_string() }
    }

    /// The calls that started in [from, to) (unix ms), as Ringostat's local times.
    pub async fn list(&self, from: i64, to: i64, tz: chrono_tz::Tz) -> Result<Vec<u8>, ListError> {
        let local = |ms: i64| {
            tz.timestamp_millis_opt(ms).single().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
        };
        // `to` is inclusive at Ringostat, to the second: stop one second short of the next window.
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("export_type", "json")
            .append_pair("from", &local(from))
            .append_pair("to", &local(to - 1_000))
            .append_pair("fields", LIST_FIELDS)
            .finish();
        let resp = self
            .http
            .get(format!("{}/calls/list?{query}", self.base))
            .header("Auth-key", &self.key)
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| ListError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(ListError::Status(resp.status().as_u16()));
        }
        let bytes = resp.bytes().await.map_err(|e| ListError::Unreachable(e.without_url().to_string()))?;
        Ok(bytes.to_vec())
    }
}

/// The fields asked of the call log: the same as the webhooks carry.
pub const LIST_FIELDS: &str = "uniqueid,calldate,call_type,caller,dst,disposition,duration,billsec,waittime,\
recording,has_recording,employee_fio,employee_number,department,pool_name,utm_source,utm_medium,utm_campaign,call_card";

/// The call log's answer: a JSON array of calls with the fields asked for.
pub fn read_list(body: &[u8], cx: &ReadContext<'_>) -> Result<Vec<Result<CallEvent, ParseError>>, ParseError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| ParseError::Body(e.to_string()))?;
    let serde_json::Value::Array(rows) = v else {
        return Err(ParseError::Body("the call log must be a JSON array".into()));
    };
    Ok(rows
        .iter()
        .map(|row| {
            let bytes = serde_json::to_vec(row).map_err(|e| ParseError::Body(e.to_string()))?;
            let f = Fields::read(&bytes, Some("application/json"))?;
            read(&f, cx)?.ok_or(ParseError::Missing("uniqueid"))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::PhoneKey;

    fn cx(key: &PhoneKey) -> ReadContext<'_> {
        ReadContext { key, timezone: chrono_tz::Europe::Kyiv }
    }

    #[test]
    fn an_answered_call_end_reads_every_field() {
        let key = PhoneKey::new(vec![7; 32]).unwrap();
        let body = br#"{"uniqueid":"1733131471.1234","calldate":"2026-12-02 10:24:31","call_type":"in",
            "caller":"+380971234567","dst":"0443334455","disposition":"ANSWERED","duration":"75","billsec":"62",
            "waittime":"13","recording":"https://rec.ringostat.net/r/1.mp3","has_recording":"1",
            "employee_fio":"Oksana Melnyk","employee_number":"101","department":"Sales",
            "pool_name":"Google Ads","utm_source":"google","utm_medium":"cpc","utm_campaign":"winter",
            "call_card":"https://app.ringostat.com/calls/1733131471.1234"}"#;
        let e = read(&Fields::read(body, None).unwrap(), &cx(&key)).unwrap().unwrap();
        assert_eq!(e.external_id, "1733131471.1234");
        assert_eq!(e.direction, CallDirection::Inbound);
        assert_eq!(e.caller, key.caller("0971234567"));
        assert_eq!(e.disposition, Disposition::Answered);
        assert_eq!((e.duration_s, e.billsec, e.wait_s), (Some(75), Some(62), Some(13)));
        // 10:24:31 in Kyiv in December is 08:24:31 UTC.
        assert_eq!(e.started_at, 1_796_199_871_000);
        assert_eq!(e.employee_ext.as_deref(), Some("101"));
        assert_eq!(e.source.shown(), "Google Ads · google / cpc / winter");
        assert!(e.answered() && !e.missed());
        assert!(!format!("{e:?}").contains("971234567"), "no readable number kept");
    }

    #[test]
    fn a_form_encoded_missed_call_and_a_live_start() {
        let key = PhoneKey::new(vec![7; 32]).unwrap();
        let body = b"uniqueid=u2&calldate=2026-12-02+10%3A24%3A31&call_type=in&caller=0971234567&disposition=NO+ANSWER&billsec=0&has_recording=0&recording=https%3A%2F%2Fx";
        let e = read(&Fields::read(body, None).unwrap(), &cx(&key)).unwrap().unwrap();
        assert_eq!(e.disposition, Disposition::NoAnswer);
        assert!(e.missed());
        assert_eq!(e.recording_url, None, "has_recording=0");
        let start = b"uniqueid=u2&calldate=2026-12-02+10%3A24%3A31&call_type=in&caller=0971234567&disposition=CALLING";
        let s = read(&Fields::read(start, None).unwrap(), &cx(&key)).unwrap().unwrap();
        assert_eq!(s.disposition, Disposition::Calling);
        assert!(!s.missed());
    }

    #[test]
    fn outbound_calls_match_the_dialled_number_and_unknown_dispositions_are_other() {
        let key = PhoneKey::new(vec![7; 32]).unwrap();
        let f = Fields::from_pairs([
            ("uniqueid", "u3"),
            ("calldate", "2026-12-02 11:00:00"),
            ("call_type", "out"),
            ("caller", "101"),
            ("dst", "0971234567"),
            ("disposition", "TRANSFERRED-ELSEWHERE"),
            ("billsec", "20"),
        ]);
        let e = read(&f, &cx(&key)).unwrap().unwrap();
        assert_eq!(e.direction, CallDirection::Outbound);
        assert_eq!(e.caller, key.caller("+380971234567"));
        assert_eq!(e.disposition, Disposition::Other);
        assert_eq!(e.raw_disposition.as_deref(), Some("TRANSFERRED-ELSEWHERE"));
    }

    #[test]
    fn bad_fields_are_named() {
        let key = PhoneKey::new(vec![7; 32]).unwrap();
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("calldate", "2026-12-02 10:00:00"), ("call_type", "in")], "uniqueid"),
            (&[("uniqueid", "u"), ("calldate", "2026-12-02 10:00:00"), ("call_type", "sideways")], "call_type"),
            (&[("uniqueid", "u"), ("calldate", "yesterday"), ("call_type", "in")], "calldate"),
            (
                &[("uniqueid", "u"), ("calldate", "2026-12-02 10:00:00"), ("call_type", "in"), ("billsec", "x")],
                "billsec",
            ),
        ];
        for (pairs, field) in cases {
            let err = read(&Fields::from_pairs(pairs.iter().copied()), &cx(&key)).unwrap_err();
            assert!(err.to_string().contains(field), "{err} names {field}");
        }
    }

    #[test]
    fn the_call_log_reads_row_by_row() {
        let key = PhoneKey::new(vec![7; 32]).unwrap();
        let body = br#"[{"uniqueid":"a","calldate":"2026-12-02 10:00:00","call_type":"in","caller":"0971234567","disposition":"ANSWERED","billsec":5},
                        {"uniqueid":"b","calldate":"broken","call_type":"in"}]"#;
        let rows = read_list(body, &cx(&key)).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_ok() && rows[1].is_err());
        assert!(read_list(b"{}", &cx(&key)).is_err());
    }

    #[test]
    fn clock_changes_do_not_break_local_times() {
        let tz = chrono_tz::Europe::Kyiv;
        // 2026-10-25 03:30 happens twice in Kyiv; 2026-03-29 03:30 never happens.
        assert!(local_time("calldate", "2026-10-25 03:30:00", tz).is_ok());
        assert!(local_time("calldate", "2026-03-29 03:30:00", tz).is_ok());
    }
}
