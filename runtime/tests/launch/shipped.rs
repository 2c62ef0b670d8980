//! The launch files the repository ships load, and the record launch file
//! records the whole run it launches.

use super::*;

#[test]
fn the_shipped_cartpole_launch_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../launch/cartpole_sil.toml");
    let file = LaunchFile::load(&path).expect("launch/cartpole_sil.toml loads");
    let names: Vec<&str> = file.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["sim", "controller"]);
    assert_eq!(file.nodes[0].cmd[..2], ["umwelt", "sim"]);
    assert_eq!(file.nodes[0].ready.as_deref(), Some("Ctrl-C stops"));
    assert_eq!(file.nodes[0].restart, RestartPolicy::Never);
    assert_eq!(file.nodes[0].max_restarts, 3);
    assert_eq!(file.nodes[1].cmd[..2], ["umwelt", "run"]);
    assert_eq!(file.nodes[1].ready.as_deref(), Some("control loop running"));
}

#[test]
fn the_shipped_record_launch_file_records_the_whole_run_it_launches() {
    use umwelt_runtime::recording::Recording;
    use umwelt_runtime::wire;

    // Run it where its relative paths lead to the repository's configs and
    // its recordings/ folder is this test's.
    let dir = temp_dir("record");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::os::unix::fs::symlink(repo.join("configs"), dir.join("configs")).expect("symlink");
    let file = repo.join("launch/cartpole_record.toml");
    let names: Vec<String> = LaunchFile::load(&file)
        .expect("launch/cartpole_record.toml loads")
        .nodes
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["recorder", "sim", "controller"]);
    let endpoint = free_loopback_endpoint().expect("a free port");
    let (status, _, err) = Launch::start_in(
        &file,
        &["--duration", "3", "--zenoh-endpoint", &endpoint],
        &dir,
    )
    .finish(Duration::from_secs(60));
    assert!(status.success(), "launch failed:\n{err}");
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("recordings"))
        .expect("a recordings/ folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert!(
        name.starts_with("umwelt-") && name.ends_with(".mcap"),
        "{name}"
    );
    let recording = Recording::open(&files[0]).expect("the recording opens");
    let summary = recording.summary();
    assert!(summary.incomplete.is_none(), "closed properly: {summary:?}");
    assert!(summary.keys["umwelt/cartpole/sensors"].messages > 0);
    // The recorder stopped last: the controller's final safe command (zero
    // force) is the last command in the file.
    let commands: Vec<Vec<f32>> = recording
        .messages()
        .map(|m| m.expect("a whole message"))
        .filter_map(|m| wire::decode_motor_command(&m.payload).ok())
        .map(|c| c.values)
        .collect();
    assert!(commands.len() > 10, "{} commands", commands.len());
    assert_eq!(commands.last(), Some(&vec![0.0]));
    assert!(commands.iter().any(|v| v[0] != 0.0), "the swing-up pushed");
}
