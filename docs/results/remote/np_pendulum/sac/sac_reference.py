#!/usr/bin/env python3
"""Model-free reference for the numpy pendulum: Soft Actor-Critic from
stable-baselines3, trained on the same system, budget and seeds as
``umwelt learn --remote`` (see ../README.md), evaluated like ``umwelt eval``.

The environment wraps the robot's own code, imported from
drivers/python/examples/numpy_pendulum.py (its ``Pendulum`` dynamics,
``reset(seed)``, reward and success channels); what a controller sees and
may do, and the episode rule, are read from its description
numpy_pendulum.toml, as umwelt reads them. No zenoh is involved here.

    python sac_reference.py --seed 0 --steps 30000 --out runs/sac_seed0
    # the environment against umwelt's own measurement of the robot:
    python sac_reference.py --check-against runs/np_zero/eval.json --check-config zero.toml

Needs stable-baselines3, gymnasium, scipy and the driver kit
(``pip install ./drivers/python``); not part of CI (torch is heavy).
"""

import argparse
import json
import math
import platform
import sys
import time
import tomllib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[5]
EXAMPLES = REPO / "drivers" / "python" / "examples"
DESCRIPTION = EXAMPLES / "numpy_pendulum.toml"
sys.path.insert(0, str(EXAMPLES))

import gymnasium as gym  # noqa: E402
import numpy_pendulum  # noqa: E402  the robot itself, not a copy of it

CURVE_SEEDS = [1_000_000, 1_000_001, 1_000_002]  # as umwelt learn's evaluations
CURVE_COLUMNS = (
    "env_steps,episodes,updates,wall_s,eval_return,eval_return_std,eval_success,collect_return"
)

Policy = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Description:
    """What numpy_pendulum.toml tells a controller: the observation
    features, the command range, the episode length and the success rule."""

    def __init__(self, path: Path = DESCRIPTION):
        d = tomllib.loads(path.read_text())
        self.joints = [j["name"] for j in d["joints"]]
        self.features: List[Tuple[int, str]] = []
        for f in d["observation"]:
            joint, kind = f.split(".")
            if kind not in ("pos", "cos", "sin", "vel"):
                raise ValueError(f"observation feature {f}: not supported here")
            self.features.append((self.joints.index(joint), kind))
        actuated = d["actuation"]["joints"]
        self.actuated = [self.joints.index(j) for j in actuated]
        self.effort = np.array(
            [d["joints"][i]["effort_limit"] for i in self.actuated], dtype=np.float32
        )
        self.velocity_limit = np.array([j["velocity_limit"] for j in d["joints"]])
        task = d["task"]
        self.episode_steps = int(task["episode_steps"])
        self.reward_channel = task["reward"]["channel"]
        self.success_channel = task["success"]["channel"]
        self.final_steps = max(1, int(task["success"].get("final_steps", 1)))

    def observe(self, positions, velocities) -> np.ndarray:
        """The description's features of a frame, in f32 as the wire carries them."""
        p = np.asarray(positions, dtype=np.float32)
        v = np.asarray(velocities, dtype=np.float32)
        out = []
        for j, kind in self.features:
            out.append(
                {"pos": p[j], "cos": np.cos(p[j]), "sin": np.sin(p[j]), "vel": v[j]}[kind]
            )
        return np.array(out, dtype=np.float32)

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Observation bounds (cos/sin in [-1, 1], velocity within its limit)."""
        lo, hi = [], []
        for j, kind in self.features:
            b = {"pos": math.pi, "cos": 1.0, "sin": 1.0, "vel": self.velocity_limit[j]}[kind]
            lo.append(-b)
            hi.append(b)
        return np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32)


class NumpyPendulumEnv(gym.Env):
    """The numpy pendulum as a gymnasium Env. Episode ``k`` since
    construction uses robot seed ``first_seed + k`` (umwelt's rule) unless
    ``reset(options={"episode_seed": s})`` names one. ``info["success"]``
    holds the description's success rule at the current step."""

    metadata = {"render_modes": []}

    def __init__(self, desc: Description, first_seed: int = 0):
        super().__init__()
        self.desc = desc
        self.robot = numpy_pendulum.Pendulum()
        lo, hi = desc.bounds()
        self.observation_space = gym.spaces.Box(lo, hi, dtype=np.float32)
        self.action_space = gym.spaces.Box(-desc.effort, desc.effort, dtype=np.float32)
        self.first_seed, self.episodes = first_seed, 0
        self.t, self.streak = 0, 0
        self.positions = self.velocities = None

    def _frame(self, out):
        positions, velocities, _efforts, channels = out
        self.positions, self.velocities = positions, velocities
        return self.desc.observe(positions, velocities), channels

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        if options and "episode_seed" in options:
            episode_seed = int(options["episode_seed"])
        else:
            episode_seed = self.first_seed + self.episodes
        self.episodes += 1
        self.t, self.streak = 0, 0
        obs, _ = self._frame(self.robot.reset(episode_seed))
        return obs, {"episode_seed": episode_seed}

    def step(self, action):
        # The driver hands the robot the command as f32, as it came off the wire.
        a = np.clip(np.asarray(action, dtype=np.float32), -self.desc.effort, self.desc.effort)
        obs, channels = self._frame(self.robot.step(a))
        self.t += 1
        reward = float(channels[self.desc.reward_channel])
        self.streak = self.streak + 1 if channels[self.desc.success_channel] > 0.5 else 0
        info = {"success": self.streak >= self.desc.final_steps}
        return obs, reward, False, self.t >= self.desc.episode_steps, info


def run_episode(env: NumpyPendulumEnv, policy: Policy, seed: int) -> Dict:
    """One full episode on robot seed ``seed``; policy(obs, positions, velocities)."""
    obs, _ = env.reset(options={"episode_seed": seed})
    ret, max_reward, length, success = 0.0, -math.inf, 0, False
    while True:
        obs, r, terminated, truncated, info = env.step(
            policy(obs, np.asarray(env.positions), np.asarray(env.velocities))
        )
        ret, max_reward, length = ret + r, max(max_reward, r), length + 1
        success = info["success"]
        if terminated or truncated:
            return {"seed": seed, "ret": ret, "length": length, "success": success,
                    "max_reward": max_reward}


def t95(df: int) -> float:
    """Two-sided 95% quantile of Student's t (as umwelt's eval.rs)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df)) if df > 0 else math.nan


def wilson95(k: int, n: int) -> List[float]:
    """95% Wilson score interval in percent (a port of umwelt's eval.rs)."""
    if n == 0:
        return [math.nan, math.nan]
    z = 1.959_963_984_540_054
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [100 * max(center - half, 0.0), 100 * min(center + half, 1.0)]


def summarize(episodes: List[Dict]) -> Dict:
    """Mean return with its Student-t 95% CI, success with Wilson's, as
    umwelt eval's summary computes them."""
    returns = np.array([e["ret"] for e in episodes])
    n = len(returns)
    mean = float(returns.mean())
    std = float(returns.std(ddof=1)) if n > 1 else 0.0
    half = t95(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    k = sum(e["success"] for e in episodes)
    return {
        "episodes": n,
        "avg_sum_reward": mean,
        "avg_sum_reward_ci95": [mean - half, mean + half],
        "sum_reward_std": std,
        "pc_success": 100.0 * k / n,
        "pc_success_ci95": wilson95(k, n),
        "avg_max_reward": float(np.mean([e["max_reward"] for e in episodes])),
    }


def parse_seeds(text: str) -> List[int]:
    """``2000-2019`` or ``1,2,3``."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> List[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return [f for f in ("avx2", "avx512f") if f in flags]
    except OSError:
        pass
    return []


# ------------------------------------------------------------------ check


def controller_from_config(path: Path, desc: Description) -> Tuple[str, Callable[[], Policy]]:
    """A Python twin of the umwelt controller in an eval config (zero,
    hold, or fault_injection without faults = a constant action), as a
    factory of fresh per-episode policies."""
    c = tomllib.loads(path.read_text())["controller"]
    kind = c["kind"]
    effort = desc.effort
    if kind == "zero":
        return kind, lambda: (lambda obs, p, v: np.zeros_like(effort))
    if kind == "fault_injection":
        if any(c.get(k, 0) for k in ("nan_every", "panic_every", "error_every")):
            raise ValueError("fault_injection with faults cannot be checked")
        value = np.float32(c.get("value", 0.0))
        return kind, lambda: (lambda obs, p, v: np.full_like(effort, value))
    if kind == "hold":
        kp, kd = np.float32(c.get("kp", 20.0)), np.float32(c.get("kd", 2.0))
        idx = desc.actuated

        def make() -> Policy:
            target = []

            def act(obs, p, v):
                p32, v32 = p.astype(np.float32), v.astype(np.float32)
                if not target:
                    target.append(p32.copy())
                u = kp * (target[0][idx] - p32[idx]) - kd * v32[idx]
                return np.clip(u, -effort, effort)

            return act

        return kind, make
    raise ValueError(f"controller kind {kind}: no Python twin to check against")


def check(eval_json: Path, config: Path, tol: float) -> int:
    """Replays umwelt's evaluated episodes with the twin controller in this
    Env; exit status 1 when a return differs by more than ``tol`` or a
    success differs."""
    desc = Description()
    report = json.loads(eval_json.read_text())
    kind, make = controller_from_config(config, desc)
    env = NumpyPendulumEnv(desc)
    worst, bad = 0.0, 0
    for ep in report["episodes"]:
        mine = run_episode(env, make(), int(ep["seed"]))
        diff = abs(mine["ret"] - ep["ret"])
        worst = max(worst, diff)
        ok = diff <= tol and mine["success"] == ep["success"] and mine["length"] == ep["length"]
        bad += not ok
        print(
            f"{kind} seed {ep['seed']}: umwelt {ep['ret']:.6f} ({ep['length']} steps, "
            f"success {ep['success']}), env {mine['ret']:.6f} ({mine['length']} steps, "
            f"success {mine['success']}), |diff| {diff:.2e} {'ok' if ok else 'MISMATCH'}"
        )
    print(f"{len(report['episodes'])} episodes, {bad} mismatches, max |diff| {worst:.2e} (tol {tol})")
    return 1 if bad else 0


# ------------------------------------------------------------------- train


def train(args) -> int:
    import stable_baselines3
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    desc = Description()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = NumpyPendulumEnv(desc, first_seed=args.seed)  # episodes: seeds seed, seed+1, ...
    eval_env = NumpyPendulumEnv(desc)

    def evaluate(model, seeds):
        pol = lambda obs, p, v: model.predict(obs, deterministic=True)[0]  # noqa: E731
        return [run_episode(eval_env, pol, s) for s in seeds]

    class Curve(BaseCallback):
        """Every ``--curve-every`` steps: the deterministic policy on the
        fixed curve seeds (their time is kept out of the training time)."""

        def __init__(self):
            super().__init__()
            self.rows, self.eval_s, self.last_return, self.episodes = [], 0.0, math.nan, 0
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "episode" in info:  # SB3's Monitor: a training episode ended
                    self.last_return, self.episodes = info["episode"]["r"], self.episodes + 1
            if self.num_timesteps % args.curve_every == 0:
                t = time.perf_counter()
                eps = evaluate(self.model, CURVE_SEEDS)
                self.eval_s += time.perf_counter() - t
                r = np.array([e["ret"] for e in eps])
                self.rows.append({
                    "env_steps": self.num_timesteps,
                    "episodes": self.episodes,
                    "updates": int(self.model._n_updates),
                    "wall_s": round(time.perf_counter() - self.t0, 1),
                    "eval_return": float(r.mean()),
                    "eval_return_std": float(r.std()),  # population, as umwelt's curve
                    "eval_success": float(np.mean([e["success"] for e in eps])),
                    "collect_return": float(self.last_return),
                })
                print(f"[sac seed {args.seed}] {self.rows[-1]}", flush=True)
            return True

    from stable_baselines3.common.monitor import Monitor

    model = SAC(
        "MlpPolicy",
        Monitor(env),
        learning_starts=args.learning_starts,
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    curve = Curve()
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.steps, callback=curve)
    total_s = time.perf_counter() - t0
    train_s = total_s - curve.eval_s

    t = time.perf_counter()
    episodes = evaluate(model, parse_seeds(args.eval_seeds))
    eval_s = time.perf_counter() - t
    model.save(out / "model.zip")

    with open(out / "curve.csv", "w") as f:
        f.write(CURVE_COLUMNS + "\n")
        for row in curve.rows:
            f.write(",".join(
                f"{row[c]:.3f}" if isinstance(row[c], float) and c != "wall_s" else str(row[c])
                for c in CURVE_COLUMNS.split(",")
            ) + "\n")
    result = {
        "algorithm": "SAC (stable-baselines3, MlpPolicy, defaults but learning_starts)",
        "hyperparameters": {
            "learning_starts": args.learning_starts,
            "learning_rate": model.learning_rate,
            "buffer_size": model.buffer_size,
            "batch_size": model.batch_size,
            "gamma": model.gamma,
            "tau": model.tau,
            "train_freq": model.train_freq.frequency,
            "gradient_steps": model.gradient_steps,
            "ent_coef": "auto",
            "net_arch": str(model.policy.net_arch),
        },
        "seed": args.seed,
        "env_steps": args.steps,
        "training_episodes": curve.episodes,
        "training_episode_seeds": f"{args.seed}..{args.seed + curve.episodes - 1}",
        "updates": int(model._n_updates),
        "observation": [f"{desc.joints[j]}.{k}" for j, k in desc.features],
        "action_range": [(-desc.effort).tolist(), desc.effort.tolist()],
        "episode_steps": desc.episode_steps,
        "success_final_steps": desc.final_steps,
        "eval_seeds": args.eval_seeds,
        "summary": summarize(episodes),
        "episodes": episodes,
        "train_wall_s": train_s,
        "curve_eval_wall_s": curve.eval_s,
        "total_learn_wall_s": total_s,
        "train_steps_per_s": args.steps / train_s,
        "final_eval_wall_s": eval_s,
        "versions": {
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": __import__("os").cpu_count(),
    }
    (out / "sac.json").write_text(json.dumps(result, indent=2) + "\n")
    s = result["summary"]
    print(
        f"[sac seed {args.seed}] {args.eval_seeds}: mean {s['avg_sum_reward']:.1f} "
        f"(95% CI {s['avg_sum_reward_ci95'][0]:.1f}-{s['avg_sum_reward_ci95'][1]:.1f}), "
        f"success {s['pc_success']:.0f} %, train {train_s:.0f} s "
        f"({args.steps / train_s:.1f} steps/s) -> {out}/sac.json"
    )
    return 0


def summarize_runs(dirs: List[Path], out: Path) -> int:
    """The training seeds together: each seed's mean, their mean and spread,
    and all their held-out episodes pooled (CI as umwelt eval's)."""
    runs = [json.loads((d / "sac.json").read_text()) for d in dirs]
    means = np.array([r["summary"]["avg_sum_reward"] for r in runs])
    pooled = [e for r in runs for e in r["episodes"]]
    result = {
        "seeds": [r["seed"] for r in runs],
        "env_steps": sorted({r["env_steps"] for r in runs}),
        "eval_seeds": sorted({r["eval_seeds"] for r in runs}),
        "per_seed": [
            {"seed": r["seed"], "mean_return": r["summary"]["avg_sum_reward"],
             "ci95": r["summary"]["avg_sum_reward_ci95"], "pc_success": r["summary"]["pc_success"],
             "train_wall_s": r["train_wall_s"], "train_steps_per_s": r["train_steps_per_s"]}
            for r in runs
        ],
        "mean_of_seed_means": float(means.mean()),
        "std_of_seed_means": float(means.std(ddof=1)) if len(means) > 1 else 0.0,
        "min_seed_mean": float(means.min()),
        "max_seed_mean": float(means.max()),
        "pooled": summarize(pooled),
        "mean_train_wall_s": float(np.mean([r["train_wall_s"] for r in runs])),
        "mean_train_steps_per_s": float(np.mean([r["train_steps_per_s"] for r in runs])),
        "cpu": runs[0]["cpu"],
        "versions": runs[0]["versions"],
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"SAC over seeds {result['seeds']}: {result['mean_of_seed_means']:.1f} "
        f"± {result['std_of_seed_means']:.1f} (seed means {', '.join(f'{m:.1f}' for m in means)}); "
        f"pooled success {result['pooled']['pc_success']:.0f} % -> {out}"
    )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="SAC seed; training episode k uses robot seed seed+k")
    p.add_argument("--steps", type=int, default=30_000, help="environment steps of training")
    p.add_argument("--learning-starts", type=int, default=1000, help="random steps before updates")
    p.add_argument("--eval-seeds", default="2000-2019", help="held-out robot seeds, a-b or a,b,c")
    p.add_argument("--curve-every", type=int, default=5000, help="learning-curve period in steps")
    p.add_argument("--out", default="runs/sac", help="output folder (sac.json, curve.csv, model.zip)")
    p.add_argument("--check-against", type=Path, help="umwelt eval.json to replay in this Env")
    p.add_argument("--check-config", type=Path, help="the eval config that produced it")
    p.add_argument("--tol", type=float, default=1e-4, help="return tolerance of the check")
    p.add_argument("--summarize", type=Path, nargs="+", metavar="RUN_DIR",
                   help="combine the sac.json of these runs into --out (a JSON file)")
    args = p.parse_args()
    if args.summarize:
        return summarize_runs(args.summarize, Path(args.out))
    if args.check_against:
        if not args.check_config:
            p.error("--check-against needs --check-config")
        return check(args.check_against, args.check_config, args.tol)
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
