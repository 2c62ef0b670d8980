"""Draws a recording's 3D scene channel as Foxglove's 3D panel would show it,
seen from the side (the x-z plane), at a few instants: a screenshot-
equivalent made only from the decoded channels of the MCAP file.

It reads the file with the `mcap` package (not umwelt), takes the robot's
last `foxglove.SceneUpdate` (entities in body frames) and the
`foxglove.FrameTransforms` on `/tf` at each chosen instant, places every
cube, cylinder and sphere in the world by its body's transform, and draws
them orthographically with matplotlib.

    python3 render_scene.py FILE.mcap OUT.png [--robot cartpole] [--panels 4 | --times 0,0.5,1]

Needs: pip install mcap matplotlib
"""

import argparse
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Polygon  # noqa: E402
from mcap.reader import make_reader  # noqa: E402


def qmul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def rotate(q, v):
    x, y, z, w = q
    p = qmul(qmul(q, (v[0], v[1], v[2], 0.0)), (-x, -y, -z, w))
    return p[:3]


def compose(outer, inner):
    """The pose `inner` (in `outer`'s frame) in `outer`'s parent frame."""
    (p1, q1), (p2, q2) = outer, inner
    r = rotate(q1, p2)
    return (tuple(a + b for a, b in zip(p1, r)), qmul(q1, q2))


def pose(d):
    p, o = d["position"], d["orientation"]
    return ((p["x"], p["y"], p["z"]), (o["x"], o["y"], o["z"], o["w"]))


def box_outline(world, size):
    """The side view (x, z) of a box: the hull of its eight corners."""
    hx, hy, hz = (s / 2 for s in size)
    pts = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                c = compose(world, ((sx * hx, sy * hy, sz * hz), (0, 0, 0, 1)))[0]
                pts.append((c[0], c[2]))
    return hull(pts)


def hull(pts):
    pts = sorted(set(pts))
    if len(pts) < 3:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def read(path, robot):
    scene = None
    tf = []  # (log_time, {child: pose})
    joints = []  # (log_time, {name: position})
    with open(path, "rb") as f:
        for _, channel, message in make_reader(f).iter_messages():
            if channel.message_encoding != "json":
                continue
            doc = json.loads(message.data)
            if channel.topic == f"/umwelt/{robot}/scene" and scene is None:
                scene = doc
            elif channel.topic == "/tf":
                tf.append(
                    (
                        message.log_time,
                        {
                            t["child_frame_id"]: (
                                (t["translation"]["x"], t["translation"]["y"], t["translation"]["z"]),
                                (t["rotation"]["x"], t["rotation"]["y"], t["rotation"]["z"], t["rotation"]["w"]),
                            )
                            for t in doc["transforms"]
                        },
                    )
                )
            elif channel.topic == f"/umwelt/{robot}/joint_states":
                joints.append((message.log_time, dict(zip(doc["name"], doc["position"]))))
    if scene is None:
        raise SystemExit(f"no /umwelt/{robot}/scene channel in {path}")
    return scene, tf, joints


def draw(ax, scene, frames):
    for e in scene["entities"]:
        if e["frame_id"] == "world":
            body = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
        elif e["frame_id"] in frames:
            body = frames[e["frame_id"]]
        else:
            continue
        for kind in ("cubes", "cylinders"):
            for c in e[kind]:
                world = compose(body, pose(c["pose"]))
                s = c["size"]
                col = c["color"]
                outline = box_outline(world, (s["x"], s["y"], s["z"]))
                ax.add_patch(Polygon(outline, closed=True, color=(col["r"], col["g"], col["b"], col["a"])))
        for c in e["spheres"]:
            world = compose(body, pose(c["pose"]))
            col = c["color"]
            ax.add_patch(
                Circle((world[0][0], world[0][2]), c["size"]["x"] / 2, color=(col["r"], col["g"], col["b"], col["a"]))
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("out")
    ap.add_argument("--robot", default="cartpole")
    ap.add_argument("--panels", type=int, default=4, help="instants, evenly spread")
    ap.add_argument("--times", help="instants instead, seconds after the first /tf, e.g. 0,0.5,1")
    a = ap.parse_args()
    scene, tf, joints = read(a.file, a.robot)
    if not tf:
        raise SystemExit("no /tf messages")
    t0 = tf[0][0]
    if a.times:
        want = [float(x) for x in a.times.split(",")]
        picks = [min(tf, key=lambda m: abs((m[0] - t0) / 1e9 - w)) for w in want]
        a.panels = len(picks)
    else:
        picks = [tf[round(i * (len(tf) - 1) / max(a.panels - 1, 1))] for i in range(a.panels)]
    fig, axes = plt.subplots(1, a.panels, figsize=(3.2 * a.panels, 3.4), squeeze=False)
    for ax, (t, frames) in zip(axes[0], picks):
        draw(ax, scene, frames)
        q = min(joints, key=lambda j: abs(j[0] - t))[1] if joints else {}
        label = ", ".join(f"{k} {v:+.2f}" for k, v in q.items())
        ax.set_title(f"t = {(t - t0) / 1e9:.2f} s\n{label}", fontsize=8)
        ax.set_aspect("equal")
        ax.set_xlim(-2.5, 2.5)
        ax.set_ylim(-1.4, 1.4)
        ax.axhline(0.0, color="0.8", lw=0.8, zorder=-1)
        ax.set_xlabel("x (m)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("z (m)", fontsize=8)
    fig.suptitle(
        f"{a.file.split('/')[-1]}: /umwelt/{a.robot}/scene placed by /tf (side view)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"{a.out}: {a.panels} instants of {len(tf)} /tf messages")


if __name__ == "__main__":
    main()
