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
