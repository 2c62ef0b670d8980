"""Independent check of an umwelt recording's decoded (Foxglove) channels.

Reads FILE.mcap with the `mcap` package (not umwelt's reader) and prints one
JSON document: every channel with its encodings, schema and message count,
the messages whose JSON does not parse, and, for each robot with a scene,
how far its `/tf` body frames are from its joint states of the same time
(cart position against the `slider` joint, the pole's rotation angle
against the `hinge` joint). runtime/tests/foxglove_recording.rs asserts on
it. Usage: python3 check_recording.py FILE.mcap
"""

import json
import math
import sys

from mcap.reader import make_reader


def wrap(a):
    return math.atan2(math.sin(a), math.cos(a))


def main(path):
    channels = {}
    joint_states = []  # (robot, stamp, message), every message
    transforms = {}  # stamp -> {child_frame_id: transform}
    scenes = {}  # topic -> list of entity ids of the last update
    with open(path, "rb") as f:
        reader = make_reader(f)
        for schema, channel, message in reader.iter_messages():
            c = channels.setdefault(
                channel.topic,
                {
                    "message_encoding": channel.message_encoding,
                    "schema_name": schema.name if schema else None,
                    "schema_encoding": schema.encoding if schema else None,
                    "schema_title": None,
                    "metadata": dict(channel.metadata),
                    "messages": 0,
                    "unparsed": 0,
                },
            )
            c["messages"] += 1
            if channel.message_encoding == "json":
                if schema is not None and c["schema_title"] is None:
                    c["schema_title"] = json.loads(schema.data).get("title")
                try:
                    doc = json.loads(message.data)
                except ValueError:
                    c["unparsed"] += 1
                    continue
                t = doc.get("timestamp")
                stamp = (t["sec"], t["nsec"]) if isinstance(t, dict) else None
                if channel.topic.endswith("/joint_states"):
                    joint_states.append((doc["robot"], stamp, doc))
                elif channel.topic == "/tf":
                    for tr in doc["transforms"]:
                        ts = (tr["timestamp"]["sec"], tr["timestamp"]["nsec"])
                        transforms.setdefault(ts, {})[tr["child_frame_id"]] = tr
                elif channel.topic.endswith("/scene"):
                    scenes[channel.topic] = sorted(e["id"] for e in doc["entities"])
    pairs = 0
    cart_err = 0.0
    pole_err = 0.0
    for robot, stamp, js in joint_states:
        frames = transforms.get(stamp)
        if not frames or f"{robot}/slider" not in frames:
            continue
        q = dict(zip(js["name"], js["position"]))
        cart = frames[f"{robot}/slider"]["translation"]
        cart_err = max(cart_err, abs(cart["x"] - q["slider"]))
        r = frames[f"{robot}/hinge"]["rotation"]
        # The pole turns about y only: its quaternion is (0, sin a/2, 0,
        # cos a/2) with a the hinge angle (0 upright, +pi/2 towards +x).
        angle = 2.0 * math.atan2(r["y"], r["w"])
        off_axis = abs(r["x"]) + abs(r["z"])
        pole_err = max(pole_err, abs(wrap(angle - q["hinge"])) + off_axis)
        pairs += 1
    print(
        json.dumps(
            {
                "channels": channels,
                "joint_states": len(joint_states),
                "tf_pairs": pairs,
                "max_cart_error_m": cart_err,
                "max_pole_error_rad": pole_err,
                "scene_entities": scenes,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
