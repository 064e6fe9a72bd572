//! Files never hold a topic back: a customer's file that is not kept yet is shown at once as
//! a line with its caption, what the customer writes after it follows without waiting, and
//! the file (or why it could not be kept) comes when the download ends.

use crate::harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viber_picture_whose_link_times_out_does_not_hold_back_the_topic() {
    let t = TestApp::start_with(Opts { channels: true, ..Opts::default() }).await;
    let v = t.viber();
    // A host that accepts the connection and never answers: the download hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/photo.jpg", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    assert_eq!(v.customer_writes("vb-slow=", "Taras", "hello").await, 200);
    let lead = t.lead_by_identity("viber", "vb-slow=").await;
    let (chat, thread, _) = t.topic_of_lead(lead.id).await;
    let picture = json!({"type": "picture", "text": "the rear bumper", "media": url, "size": 2048,
        "file_name": "bumper.jpg"});
    assert_eq!(v.customer_sends("vb-slow=", "Taras", picture).await.0, 200);
    assert_eq!(v.customer_writes("vb-slow=", "Taras", "is that fixable?").await, 200);
    // Within a few seconds, not after the download's two minutes.
    eventually_within("the downloading line and the later text", std::time::Duration::from_secs(8), || {
        let all = t.bot_texts(chat, thread);
        let ok = all.iter().any(|m| m.contains("downloading") && m.contains("the rear bumper"))
            && all.iter().any(|m| m.contains("is that fixable?"));
        async move { ok.then_some(()) }
    })
    .await;
    let all = t.bot_texts(chat, thread);
    let line = all.iter().position(|m| m.contains("downloading")).unwrap();
    let later = all.iter().position(|m| m.contains("is that fixable?")).unwrap();
    assert!(line <= later, "the downloading line comes first: {all:?}");
    // The customer unsubscribes: the notice is not held behind the download either.
    assert_eq!(v.unsubscribed("vb-slow=").await, 200);
    t.until("the unsubscribed notice", |_| t.bot_texts(chat, thread).iter().any(|m| m.contains("unsubscribed"))).await;
    let shown = t.bot_texts(chat, thread).iter().filter(|m| m.contains("downloading")).count();
    assert_eq!(shown, 1, "the line is posted once");
    holder.abort();
    t.stop().await;
}
