//! Camera images end to end: `umwelt sim --cameras` puts them in its
//! frames, `umwelt topic echo` summarises them and `--save` writes PNGs,
//! two processes over zenoh on loopback (ports 28200-28299).

mod common;
use common::process::{spawn, wait_exit};
use common::{fresh_dir, umwelt};
use std::io::Read;
use std::time::Duration;

#[test]
fn sim_publishes_camera_images_and_topic_echo_saves_them() {
    let endpoint = "tcp/127.0.0.1:28217";
    let dir = fresh_dir("camera-echo");
    let _sim = spawn(&[
        "sim",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--cameras",
        "side",
        "--duration",
        "60",
        "--zenoh-endpoint",
        endpoint,
    ]);
    let mut echo = spawn(&[
        "topic",
        "echo",
        "umwelt/cartpole/sensors",
        "--count",
        "2",
        "--json",
        "--save",
        dir.to_str().unwrap(),
        "--zenoh-endpoint",
        endpoint,
    ]);
    let status = wait_exit(
        &mut echo,
        Duration::from_secs(40),
        "topic echo to see 2 frames",
    );
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(p) = pipe {
            p.read_to_string(&mut text).unwrap();
        }
        text
    };
    let stderr = read(echo.0.stderr.as_mut().map(|p| p as &mut dyn Read));
    assert!(status.success(), "{stderr}");
    let stdout = read(echo.0.stdout.as_mut().map(|p| p as &mut dyn Read));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["images"],
            serde_json::json!(["side 64x64 rgb8 (12288 bytes)"]),
            "{line}"
        );
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("cartpole_") && name.ends_with("_side_rgb8.png"),
            "{name}"
        );
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // 64 x 64 in the IHDR chunk.
        assert_eq!(&bytes[16..24], &[0, 0, 0, 64, 0, 0, 0, 64]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unknown_camera_is_refused_with_the_robots_cameras() {
    let out = umwelt(&[
        "sim",
        "--robot",
        "reacher",
        "--task",
        "easy",
        "--cameras",
        "nose",
        "--duration",
        "1",
        "--zenoh-endpoint",
        "tcp/127.0.0.1:28218",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no camera `nose`") && err.contains("top"),
        "{err}"
    );
}
