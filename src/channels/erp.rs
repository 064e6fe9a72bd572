//! The outgoing ERP client: what Forecourt pushes to the ERP (`lead.sold`), signed like the
//! ERP's own pushes (`X-Signature: sha256=<hex HMAC-SHA256 of the body>`), and the job that
//! carries it. The inbound contract is `web::erp`.

use crate::store::NewJob;

/// The job that tells the ERP a lead was sold, enqueued in the same transaction as the
/// stage change. Its `event_id` is fixed when enqueued, so every retry is the same event
/// and the ERP can apply it exactly once.
pub fn sold_job(lead: crate::domain::LeadId, now: i64) -> anyhow::Result<NewJob> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness for an event id: {e}"))?;
    id[6] = (id[6] & 0x0f) | 0x40; // a version-4 UUID
    id[8] = (id[8] & 0x3f) | 0x80;
    let h = hex::encode(id);
    let event_id = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
    Ok(crate::jobs::Job::ErpPush { lead, event_id, sold_at: Some(now) }.into_new(format!("erp:{}", lead.0), None, now))
}

/// Post a body to the ERP, signed with `secret`; `Err` says why it did not take it (retried
/// by the job).
pub async fn post_signed(url: &str, secret: &str, body: String) -> Result<(), String> {
    let signature = format!("sha256={}", super::hmac_hex(secret.as_bytes(), body.as_bytes()));
    let sent = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("X-Signature", signature)
        .body(body)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the ERP answered {}", r.status())),
        Err(e) => Err(format!("the ERP is unreachable: {e}")),
    }
}
