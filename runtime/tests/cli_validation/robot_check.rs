//! `umwelt robot check` on a ROS 2 description: each bad field is a one-line
//! error naming it.

use super::*;

#[test]
fn bad_ros2_fields_of_a_description_are_one_line_errors_of_robot_check() {
    let dir = common::fresh_dir("cli-validation-ros2");
    std::fs::create_dir_all(&dir).expect("dir");
    let good = std::fs::read_to_string(workspace().join("configs/ros2/cartpole.toml"))
        .expect("configs/ros2/cartpole.toml");
    let cases = [
        ("domain_id = 0", "domain_id = 300", "ros2.domain_id"),
        (
            "joint_state_topic = \"/joint_states\"",
            "joint_state_topic = \"\"",
            "ros2.joint_state_topic",
        ),
        (
            "joint_state_topic = \"/joint_states\"",
            "joint_state_topic = \"/a//b\"",
            "ros2.joint_state_topic",
        ),
        (
            "node_name = \"umwelt\"",
            "node_name = \"a/b\"",
            "ros2.node_name",
        ),
        (
            "max_stamp_age_s = 0.25",
            "max_stamp_age_s = nan",
            "ros2.max_stamp_age_s",
        ),
        (
            "max_stamp_ahead_s = 0.05",
            "max_stamp_ahead_s = -1.0",
            "ros2.max_stamp_ahead_s",
        ),
        ("domain_id = 0", "domain = 0", "unknown field `domain`"),
        ("transport = \"ros2\"", "", "transport is not \"ros2\""),
        (
            "[actuation]",
            "[[channels]]\nname = \"reward\"\nlow = 0.0\nhigh = 1.0\n\n[actuation]",
            "JointState carries no channels",
        ),
        (
            "[actuation]",
            "[[camera]]\nname = \"front\"\nwidth = 64\nheight = 64\n\n[actuation]",
            "JointState only, no images",
        ),
        (
            "[actuation]",
            "[[camera]]\nname = \"front\"\nwidth = 0\nheight = 64\n\n[actuation]",
            "camera[0] (`front`).width = 0",
        ),
    ];
    for (i, (from, to, key)) in cases.iter().enumerate() {
        assert!(good.contains(from), "{from}");
        let path = dir.join(format!("d{i}.toml"));
        std::fs::write(&path, good.replacen(from, to, 1)).expect("write");
        let p = path.to_string_lossy().into_owned();
        let out = umwelt(&["robot", "check", &p]);
        assert_one_line_error(&out, to, &[key, &p]);
    }
    std::fs::remove_dir_all(&dir).ok();
    let ok = run_in_workspace(&["robot", "check", "configs/ros2/cartpole.toml"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
