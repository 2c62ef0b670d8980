# Writes small LeRobot datasets of the cart-pole (observation.state: the
# cart-pole's 5 features, action: the slider force) with pyarrow only, as
# LeRobot's writer lays them out (v3.0: one data file, the episodes table;
# v2.1: one file per episode, meta/episodes.jsonl), seeded; and
# expected.json with every value, for the importer's test to compare.
# Usage: write_lerobot.py OUT_V30 OUT_V21 OUT_BAD
import json, pathlib, sys
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NAMES = ["slider.pos", "hinge.cos", "hinge.sin", "slider.vel", "hinge.vel"]
FPS, EPISODES, FRAMES = 100, 3, 60
rng = np.random.default_rng(7)
eps = []
for e in range(EPISODES):
    angle = rng.uniform(-np.pi, np.pi, FRAMES)
    state = np.stack([rng.uniform(-1, 1, FRAMES), np.cos(angle), np.sin(angle),
                      rng.normal(0, 1, FRAMES), rng.normal(0, 3, FRAMES)], axis=1).astype(np.float32)
    action = rng.uniform(-10, 10, (FRAMES, 1)).astype(np.float32)
    reward = rng.uniform(0, 1, FRAMES).astype(np.float32)
    eps.append((state, action, reward))

def features():
    f = {"observation.state": {"dtype": "float32", "shape": [5], "names": NAMES},
         "action": {"dtype": "float32", "shape": [1], "names": ["slider"]},
         "next.reward": {"dtype": "float32", "shape": [1], "names": None},
         "next.done": {"dtype": "bool", "shape": [1], "names": None}}
    for k in ["timestamp"]:
        f[k] = {"dtype": "float32", "shape": [1], "names": None}
    for k in ["frame_index", "episode_index", "index", "task_index"]:
        f[k] = {"dtype": "int64", "shape": [1], "names": None}
    return f

def frames(e, start, bad=None):
    state, action, reward = eps[e]
    action = action.copy()
    if bad is not None:
        action[bad] = 12.5
    n = len(reward)
    return pa.table({
        "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(state.ravel()), 5),
        "action": pa.FixedSizeListArray.from_arrays(pa.array(action.ravel()), 1),
        "next.reward": pa.array(reward),
        "next.done": pa.array([i == n - 1 for i in range(n)]),
        "timestamp": pa.array((np.arange(n) / FPS).astype(np.float32)),
        "frame_index": pa.array(np.arange(n, dtype=np.int64)),
        "episode_index": pa.array(np.full(n, e, dtype=np.int64)),
        "index": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "task_index": pa.array(np.zeros(n, dtype=np.int64)),
    })

def info(version, data_path):
    return {"codebase_version": version, "robot_type": "cartpole", "total_episodes": EPISODES,
            "total_frames": EPISODES * FRAMES, "total_tasks": 1, "chunks_size": 1000, "fps": FPS,
            "splits": {"train": f"0:{EPISODES}"}, "data_path": data_path, "video_path": None,
            "features": features()}

def v30(root, bad=None):
    root = pathlib.Path(root)
    (root / "data/chunk-000").mkdir(parents=True)
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    tables = [frames(e, e * FRAMES, bad if e == 1 else None) for e in range(EPISODES)]
    with pq.ParquetWriter(root / "data/chunk-000/file-000.parquet", tables[0].schema,
                          compression="snappy") as w:
        for t in tables:
            w.write_table(t)
    pq.write_table(pa.table({
        "episode_index": pa.array(range(EPISODES), pa.int64()),
        "tasks": pa.array([["swing the pole up"]] * EPISODES),
        "length": pa.array([FRAMES] * EPISODES, pa.int64()),
        "data/chunk_index": pa.array([0] * EPISODES, pa.int64()),
        "data/file_index": pa.array([0] * EPISODES, pa.int64()),
        "dataset_from_index": pa.array([e * FRAMES for e in range(EPISODES)], pa.int64()),
        "dataset_to_index": pa.array([(e + 1) * FRAMES for e in range(EPISODES)], pa.int64()),
    }), root / "meta/episodes/chunk-000/file-000.parquet")
    pq.write_table(pa.table({"task_index": pa.array([0], pa.int64()),
                             "task": ["swing the pole up"]}), root / "meta/tasks.parquet")
    (root / "meta/info.json").write_text(json.dumps(info(
        "v3.0", "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"), indent=4))

def v21(root):
    root = pathlib.Path(root)
    (root / "data/chunk-000").mkdir(parents=True)
    (root / "meta").mkdir(parents=True)
    for e in range(EPISODES):
        pq.write_table(frames(e, e * FRAMES), root / f"data/chunk-000/episode_{e:06d}.parquet")
    (root / "meta/episodes.jsonl").write_text("".join(
        json.dumps({"episode_index": e, "tasks": ["swing the pole up"], "length": FRAMES}) + "\n"
        for e in range(EPISODES)))
    (root / "meta/tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": "swing the pole up"}) + "\n")
    (root / "meta/info.json").write_text(json.dumps(info(
        "v2.1", "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"), indent=4))

v30(sys.argv[1])
v21(sys.argv[2])
v30(sys.argv[3], bad=7)
expected = [{"states": s.tolist(), "actions": a.tolist(), "rewards": r.tolist()} for s, a, r in eps]
(pathlib.Path(sys.argv[1]) / "expected.json").write_text(json.dumps(expected))
print("OK")
