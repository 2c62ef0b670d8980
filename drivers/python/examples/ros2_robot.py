#!/usr/bin/env python3
"""Plays a ROS 2 robot on rmw_zenoh, backed by a simulator that speaks
umwelt's own protocol: what `umwelt run` sees on the ROS side is what a
ros2_control robot with a joint_state_broadcaster and a
forward_command_controller would publish and read.

- umwelt side (``--native-endpoint``): reads the sensor frames of
  `umwelt sim` (umwelt_driver's codec) and sends it motor commands
  answering them.
- ROS 2 side (``--ros-endpoint``): publishes every frame as a
  ``sensor_msgs/msg/JointState`` (joints named, in ``--joints`` order,
  which need not be umwelt's) and turns every
  ``std_msgs/msg/Float64MultiArray`` on the command topic into a command.
  Messages are CDR from rosbags, the attachment zenoh-ext's serialiser,
  keys and liveliness tokens written here from rmw_zenoh's formats
  (ros2/rmw_zenoh ``liveliness_utils.cpp``, ``attachment_helpers.cpp``):
  nothing of umwelt's ROS 2 code is used.

At the end (the simulator's frames stop for ``--idle`` seconds) it lists the
liveliness tokens on the ROS side and writes a JSON report (``--report``):
messages each way, the commands decoded, the tokens seen.
"""

import argparse
import json
import threading
import time

import numpy as np
import zenoh
import zenoh.ext as zx
from rosbags.typesys import Stores, get_typestore

from umwelt_driver import CommandMode, MotorCommand, codec, now_ns, open_session
from umwelt_driver.keys import CMD, SENSORS, key

STORE = get_typestore(Stores.ROS2_JAZZY)
JOINT_STATE = "sensor_msgs/msg/JointState"
F64_ARRAY = "std_msgs/msg/Float64MultiArray"
QOS = "::,10:,:,:,,"  # reliable, volatile, keep last 10 (rmw_zenoh's qos_to_keyexpr)


def dds_name(ros_type: str) -> str:
    pkg, kind, name = ros_type.split("/")
    return f"{pkg}::{kind}::dds_::{name}_"


def topic_key(domain: int, topic: str, ros_type: str) -> str:
    return f"{domain}/{topic.strip('/')}/{dds_name(ros_type)}/{STORE.hash_rihs01(ros_type)}"


def token(domain, zid, node, entity_id, kind, topic=None, ros_type=None) -> str:
    mangle = lambda s: s.replace("/", "%")  # noqa: E731
    t = f"@ros2_lv/{domain}/{zid}/0/{entity_id}/{kind}/%/%/{mangle(node)}"
    if topic is not None:
        t += f"/{mangle(topic)}/{mangle(dds_name(ros_type))}/{STORE.hash_rihs01(ros_type)}/{QOS}"
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="cartpole")
    ap.add_argument("--joints", default="slider,hinge",
                    help="JointState names, in umwelt's joint order of the simulator")
    ap.add_argument("--publish-order", default="hinge,slider",
                    help="the order the JointState lists them in")
    ap.add_argument("--native-endpoint", required=True)
    ap.add_argument("--ros-endpoint", required=True)
    ap.add_argument("--domain", type=int, default=0)
    ap.add_argument("--node", default="cartpole_hardware")
    ap.add_argument("--joint-state-topic", default="/joint_states")
    ap.add_argument("--command-topic", default="/forward_effort_controller/commands")
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--report", required=True)
    a = ap.parse_args()

    sim_joints = a.joints.split(",")
    order = [sim_joints.index(n) for n in a.publish_order.split(",")]
    native = open_session(a.native_endpoint)
    ros = open_session(a.ros_endpoint)
    zid = str(ros.zid())
    tokens = [
        ros.liveliness().declare_token(token(a.domain, zid, a.node, 0, "NN")),
        ros.liveliness().declare_token(
            token(a.domain, zid, a.node, 1, "MP", a.joint_state_topic, JOINT_STATE)),
        ros.liveliness().declare_token(
            token(a.domain, zid, a.node, 2, "MS", a.command_topic, F64_ARRAY)),
    ]
    gid = bytes(np.random.default_rng(1).integers(0, 256, 16, dtype=np.uint8))
    js_pub = ros.declare_publisher(topic_key(a.domain, a.joint_state_topic, JOINT_STATE))
    cmd_pub = native.declare_publisher(key(a.robot, CMD), express=True)

    lock = threading.Lock()
    st = {"frames": 0, "joint_states": 0, "commands": 0, "bad_commands": 0,
          "last_frame_seq": 0, "last_frame_at": None, "cmd_seq": 0,
          "command_values": [], "attachment_seqs_increasing": True, "last_att_seq": 0,
          "command_gids": set()}
    T = STORE.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    JointState = T[JOINT_STATE]

    def on_frame(sample):
        f = codec.decode_sensor_frame(bytes(sample.payload.to_bytes()))
        with lock:
            st["frames"] += 1
            st["last_frame_seq"] = f.seq
            st["last_frame_at"] = time.monotonic()
            seq = st["joint_states"] + 1
            st["joint_states"] = seq
        names = [sim_joints[i] for i in order]
        pos = np.array([f.positions[i] for i in order], dtype=np.float64)
        vel = np.array([f.velocities[i] for i in order], dtype=np.float64)
        eff = np.array([f.efforts[i] for i in order], dtype=np.float64)
        stamp = now_ns()
        msg = JointState(
            header=Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=""),
            name=names, position=pos, velocity=vel, effort=eff)
        payload = bytes(STORE.serialize_cdr(msg, JOINT_STATE))
        att = zx.z_serialize((zx.Int64(seq), zx.Int64(stamp), [zx.UInt8(b) for b in gid]))
        js_pub.put(payload, attachment=att)

    def on_command(sample):
        att = sample.attachment
        try:
            if att is None:
                raise ValueError("no attachment")
            seq, _ts, cgid = zx.z_deserialize(
                tuple[zx.Int64, zx.Int64, list[zx.UInt8]], att)
            if len(cgid) != 16:
                raise ValueError("gid length")
            msg = STORE.deserialize_cdr(bytes(sample.payload.to_bytes()), F64_ARRAY)
            values = [float(v) for v in msg.data]
        except Exception:
            with lock:
                st["bad_commands"] += 1
            return
        now = now_ns()
        with lock:
            if seq <= st["last_att_seq"]:
                st["attachment_seqs_increasing"] = False
            st["last_att_seq"] = seq
            st["command_gids"].add(bytes(cgid).hex())
            st["commands"] += 1
            st["cmd_seq"] += 1
            if len(st["command_values"]) < 5:
                st["command_values"].append(values)
            cmd = MotorCommand(st["cmd_seq"], now, st["last_frame_seq"], now + 100_000_000,
                               CommandMode.TORQUE, values)
        cmd_pub.put(codec.encode(cmd))

    subs = [
        native.declare_subscriber(key(a.robot, SENSORS), on_frame),
        ros.declare_subscriber(
            topic_key(a.domain, a.command_topic, F64_ARRAY), on_command),
    ]
    started = time.monotonic()
    seen = None
    while True:
        time.sleep(0.1)
        with lock:
            last = st["last_frame_at"]
            answered = st["commands"] > 0
        if seen is None and answered:
            # The graph as `ros2 node list` would read it, while umwelt runs.
            seen = [str(r.ok.key_expr)
                    for r in ros.liveliness().get(f"@ros2_lv/{a.domain}/**", timeout=2.0)
                    if r.ok is not None]
        if last is None and time.monotonic() - started > 60:
            break
        if last is not None and time.monotonic() - last > a.idle:
            break
    report = {k: v for k, v in st.items() if k not in ("last_frame_at", "command_gids")}
    report["command_gids"] = sorted(st["command_gids"])
    report["tokens"] = sorted(seen or [])
    report["joint_state_key"] = topic_key(a.domain, a.joint_state_topic, JOINT_STATE)
    report["command_key"] = topic_key(a.domain, a.command_topic, F64_ARRAY)
    with open(a.report, "w") as out:
        json.dump(report, out, indent=2)
    for s in subs:
        s.undeclare()
    for t in tokens:
        t.undeclare()
    native.close()
    ros.close()


if __name__ == "__main__":
    main()
