//! Real zenoh sessions on loopback: nodes find each other in any start order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use umwelt_runtime::nodes::transport::{ZenohArgs, free_loopback_endpoint, wait_for_peer};
use zenoh::Wait;

fn received_within(got: &Arc<Mutex<Vec<Vec<u8>>>>, timeout: Duration, want: usize) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if got.lock().unwrap().len() >= want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn three_peers_mesh_and_survive_the_first_leaving() {
    let args = ZenohArgs::at(free_loopback_endpoint().unwrap());
    let hub = args.open().unwrap();
    let a = args.open().unwrap();
    let b = args.open().unwrap();
    assert!(wait_for_peer(&a, Duration::from_secs(5)) && wait_for_peer(&b, Duration::from_secs(5)));

    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let _sub = b
        .declare_subscriber("umwelt/test/sensors")
        .callback(move |s| sink.lock().unwrap().push(s.payload().to_bytes().to_vec()))
        .wait()
        .unwrap();
    let publisher = a.declare_publisher("umwelt/test/sensors").wait().unwrap();
    // Peers mesh by gossip: wait for a and b to link directly, then publish.
    let start = Instant::now();
    while !received_within(&got, Duration::from_millis(50), 1) {
        publisher.put(vec![1u8, 2, 3]).wait().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a -> b never delivered"
        );
    }
    // The node holding the meeting port leaves; a and b keep talking.
    hub.close().wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = got.lock().unwrap().len();
    publisher.put(vec![9u8]).wait().unwrap();
    assert!(
        received_within(&got, Duration::from_secs(3), before + 1),
        "a -> b lost with the hub"
    );
    assert_eq!(got.lock().unwrap().last().unwrap(), &vec![9u8]);
}

#[test]
fn a_node_started_before_the_other_connects_when_it_arrives() {
    let args = ZenohArgs::at(free_loopback_endpoint().unwrap());
    let early = args.open().unwrap();
    assert!(
        !wait_for_peer(&early, Duration::from_millis(100)),
        "nobody else is up yet"
    );
    let late = args.open().unwrap();
    assert!(wait_for_peer(&late, Duration::from_secs(5)));
    assert!(wait_for_peer(&early, Duration::from_secs(5)));
}

#[test]
fn bad_endpoints_and_config_files_are_clear_errors() {
    let e = ZenohArgs::at("localhost").open().err().unwrap().to_string();
    assert!(
        e.contains("`localhost`") && e.contains("tcp/127.0.0.1:7447"),
        "{e}"
    );
    let args = ZenohArgs {
        zenoh_config: Some("/nonexistent/zenoh.json5".into()),
        ..Default::default()
    };
    let e = args.open().err().unwrap().to_string();
    assert!(e.contains("/nonexistent/zenoh.json5"), "{e}");
}

#[test]
fn a_member_started_before_the_hub_listens_connects_when_it_does() {
    let endpoint = free_loopback_endpoint().unwrap();
    // Hold the meeting port so the first node becomes a member of a hub that is not there yet.
    let blocker = std::net::TcpListener::bind(endpoint.trim_start_matches("tcp/")).unwrap();
    let member = ZenohArgs::at(&endpoint).open().unwrap();
    assert!(!wait_for_peer(&member, Duration::from_millis(200)));
    drop(blocker);
    let hub = ZenohArgs::at(&endpoint).open().unwrap();
    assert!(
        wait_for_peer(&member, Duration::from_secs(5)),
        "the member never found the hub"
    );
    assert!(wait_for_peer(&hub, Duration::from_secs(5)));
}
