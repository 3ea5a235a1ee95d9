// SPDX-License-Identifier: Apache-2.0
//! Events both ways on the shared sandbox (docs/events.md).

use std::time::Duration;

use crate::common::shared;

#[test]
fn events_both_ways_in_order() {
    let sb = shared();
    let mut s = sb.events(Some("rs.iter"), -1, true).unwrap();
    let seq = sb.emit("rs.go", r#"{"n":5}"#).unwrap();
    assert!(seq > 0);
    let r =
        sb.exec_args(["sh", "-c", "msb event wait rs.go; for i in 1 2 3; do msb event emit rs.iter $i; done"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), r#"{"n":5}"#);
    for i in 1..=3 {
        let ev = s.next(Some(Duration::from_secs(60))).unwrap().expect("an event");
        assert_eq!((ev.source.as_str(), ev.topic.as_str(), ev.data.clone()), ("guest", "rs.iter", i.to_string()));
    }
    assert!(sb.emit("msb.stopped", "null").is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn async_events_both_ways_and_on() {
    let sb = crate::common::shared_async().await;
    let mut s = sb.events(Some("rs.async"), -1, true).await.unwrap();
    let seq = sb.emit("rs.async.go", r#"{"n":7}"#).await.unwrap();
    assert!(seq > 0);
    // The sandbox's own events, through a callback on a task of its own.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = sb
        .on(Some("msb.exec.*"), move |ev| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((ev.topic, ev.data));
            }
        })
        .await
        .unwrap();
    let r = sb
        .shell("msb event wait rs.async.go; i=0; while [ $i -lt 300 ]; do msb event emit rs.async $i; i=$((i+1)); done")
        .await
        .unwrap();
    assert_eq!(r.stdout_str().trim(), r#"{"n":7}"#);
    // Read after the guest is done: every one, in order, none missed.
    for i in 0..300 {
        let ev = tokio::time::timeout(Duration::from_secs(60), s.next()).await.expect("in time").unwrap().unwrap();
        assert_eq!(
            (ev.source.as_str(), ev.topic.as_str(), ev.data.as_str()),
            ("guest", "rs.async", i.to_string().as_str())
        );
    }
    assert_eq!(s.dropped(), 0);
    // The shell's exec started and exited (the callback's stream opened
    // before it ran).
    let mut seen = Vec::new();
    while !seen.iter().any(|(t, _): &(String, String)| t == "msb.exec.exited") {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("in time").unwrap();
        seen.push(e);
    }
    // (Other tests run commands on this sandbox meanwhile: a start comes
    // before the first end seen.)
    assert!(
        seen.iter().position(|(t, _)| t == "msb.exec.started") < seen.iter().position(|(t, _)| t == "msb.exec.exited")
    );
    sub.abort();
    assert!(sub.await.is_ok());
    // Without follow, the log's events up to now, then the end.
    let mut all = sb.events(None, 0, false).await.unwrap();
    let mut found = false;
    while let Some(ev) = all.next().await.unwrap() {
        found |= ev.seq == seq && ev.source == "host" && ev.data == r#"{"n":7}"#;
    }
    assert!(found, "the event sent is not in the log");
    assert!(sb.emit("msb.stopped", "null").await.is_err());
    assert!(sb.emit("rs.bad", "{not json").await.is_err());
}
