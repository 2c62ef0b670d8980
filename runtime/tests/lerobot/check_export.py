# Reads a LeRobotDataset v3.0 that `umwelt dataset export` wrote, with
# pyarrow only (an independent parquet reader), and checks it against the
# umwelt dataset it came from (read with docs/DATASET.md's reader).
# Usage: check_export.py UMWELT_DIR LEROBOT_DIR
import json, pathlib, struct, sys, zlib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

spec = json.loads((src / "dataset.json").read_text())
od, ad = len(spec["observation"]), len(spec["action"])
episodes = []
for p in sorted((src / "episodes").glob("*.ep")):
    data = p.read_bytes()
    magic, version, o, a, n, seed, flags, crc = struct.unpack_from("<4sIIIIQB3xI", data)
    assert magic == b"UWEP" and zlib.crc32(data[36:]) == crc
    v = np.frombuffer(data, dtype="<f4", offset=36)
    k = (n + 1) * o
    episodes.append(dict(seed=seed, obs=v[:k].reshape(n + 1, o), act=v[k:k + n * a].reshape(n, a),
                         rew=v[k + n * a:], flags=flags))

info = json.loads((dst / "meta/info.json").read_text())
assert info["codebase_version"] == "v3.0", info["codebase_version"]
assert info["robot_type"] == spec["robot"]
fps = round(1 / spec["control_period"])
assert info["fps"] == fps and isinstance(info["fps"], int)
total = sum(len(e["rew"]) for e in episodes)
assert info["total_episodes"] == len(episodes), info["total_episodes"]
assert info["total_frames"] == total, (info["total_frames"], total)
assert info["total_tasks"] == 1 and info["chunks_size"] == 1000
assert info["splits"] == {"train": f"0:{len(episodes)}"}
assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
f = info["features"]
assert f["observation.state"] == {"dtype": "float32", "shape": [od],
                                  "names": [x["name"] for x in spec["observation"]]}, f["observation.state"]
assert f["action"] == {"dtype": "float32", "shape": [ad], "names": [x["name"] for x in spec["action"]]}
for name, dtype in [("next.reward", "float32"), ("next.done", "bool"), ("next.success", "bool"),
                    ("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                    ("index", "int64"), ("task_index", "int64")]:
    assert f[name]["dtype"] == dtype and f[name]["shape"] == [1], (name, f[name])

table = pq.read_table(dst / "data/chunk-000/file-000.parquet")
s = table.schema
assert s.field("observation.state").type == pa.list_(pa.float32(), od), s
assert s.field("action").type == pa.list_(pa.float32(), ad), s
assert s.field("next.reward").type == pa.float32()
assert s.field("next.done").type == pa.bool_() and s.field("next.success").type == pa.bool_()
assert s.field("timestamp").type == pa.float32()
for c in ["frame_index", "episode_index", "index", "task_index"]:
    assert s.field(c).type == pa.int64(), c
assert table.num_rows == total
meta = pq.ParquetFile(dst / "data/chunk-000/file-000.parquet").metadata
assert meta.num_row_groups == len(episodes), meta.num_row_groups  # one per episode, as LeRobot
assert meta.row_group(0).column(0).compression == "SNAPPY"

state = np.asarray(table["observation.state"].combine_chunks().flatten()).reshape(-1, od)
action = np.asarray(table["action"].combine_chunks().flatten()).reshape(-1, ad)
col = lambda c: table[c].to_numpy()
start = 0
for i, e in enumerate(episodes):
    n = len(e["rew"])
    sl = slice(start, start + n)
    assert (state[sl] == e["obs"][:n]).all(), f"episode {i}: states differ"
    assert (action[sl] == e["act"]).all(), f"episode {i}: actions differ"
    assert (col("next.reward")[sl] == e["rew"]).all(), f"episode {i}: rewards differ"
    assert (col("frame_index")[sl] == np.arange(n)).all()
    assert (col("episode_index")[sl] == i).all()
    assert (col("index")[sl] == np.arange(start, start + n)).all()
    assert (col("task_index")[sl] == 0).all()
    assert np.allclose(col("timestamp")[sl], np.arange(n) / fps)
    done = col("next.done")[sl]
    assert done[-1] and not done[:-1].any()
    assert col("next.success")[sl].any() == bool(e["flags"] & 4)
    start += n

eps = pq.read_table(dst / "meta/episodes/chunk-000/file-000.parquet").to_pydict()
assert eps["episode_index"] == list(range(len(episodes)))
assert eps["length"] == [len(e["rew"]) for e in episodes]
assert eps["tasks"] == [[spec["task"]]] * len(episodes)
assert eps["dataset_from_index"][0] == 0 and eps["dataset_to_index"][-1] == total
assert eps["data/chunk_index"] == [0] * len(episodes) and eps["data/file_index"] == [0] * len(episodes)
assert eps["umwelt/seed"] == [e["seed"] for e in episodes]
for i, e in enumerate(episodes):
    assert np.array_equal(np.float32(eps["umwelt/final_observation"][i]), e["obs"][-1])
    assert eps["stats/action/count"][i] == [len(e["rew"])]
    assert np.allclose(eps["stats/action/mean"][i], e["act"].astype(np.float64).mean(axis=0))

tasks = pq.read_table(dst / "meta/tasks.parquet")
assert tasks.column("task").to_pylist() == [spec["task"]]
assert tasks.column("task_index").to_pylist() == [0]
assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]

stats = json.loads((dst / "meta/stats.json").read_text())
assert stats["observation.state"]["count"] == [total]
assert np.allclose(stats["observation.state"]["mean"], state.astype(np.float64).mean(axis=0))
assert np.allclose(stats["observation.state"]["std"], state.astype(np.float64).std(axis=0))
assert np.allclose(stats["action"]["min"], action.min(axis=0))
assert np.allclose(stats["action"]["max"], action.max(axis=0))
for q in ["q01", "q10", "q50", "q90", "q99"]:
    assert len(stats["action"][q]) == ad
print(f"OK {len(episodes)} episodes, {total} frames")
