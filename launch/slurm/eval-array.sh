#!/usr/bin/env bash
# One `umwelt eval` as a Slurm job array: task K of N runs `--shard K/N`,
# then a merge job, started only when every task succeeded
# (--dependency=afterok), writes the report of the whole evaluation.
#
#   bash launch/slurm/eval-array.sh      # on the login node, from the repository root: submits both
#
# Without SLURM_ARRAY_TASK_ID (run by hand) the script submits itself as
# the array and the merge job; as an array task it runs one shard. The
# repository (configs/, models/) and `umwelt` on PATH must be on every
# node, and OUT on a file system they share. Change N in --array and
# nothing else: each task reads N from SLURM_ARRAY_TASK_COUNT. The array
# must be 1-N (task ids are the 1-based shard index).
#
#SBATCH --job-name=umwelt-eval
#SBATCH --array=1-4
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=umwelt-eval-%A_%a.log
set -euo pipefail

# The whole evaluation; every shard gets the same values.
CONFIG=${CONFIG:-configs/mpc_cartpole_swingup.toml}
EPISODES=${EPISODES:-100}
SEED=${SEED:-100}
OUT=${OUT:-runs/eval-sharded}
# Episodes at a time in each task (the shipped MPC configs plan on 2
# threads: one episode per 2 CPUs).
JOBS=${JOBS:-1}
# Extra flags of every shard, e.g. `--baselines random`; --full-budget
# makes the returns depend only on the seeds, not on each node's load.
FLAGS=${FLAGS:---full-budget}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    export CONFIG EPISODES SEED OUT JOBS FLAGS
    # --export=ALL: the tasks see the values above.
    array=$(sbatch --parsable --export=ALL "$0")
    array=${array%%;*}   # "jobid;cluster" on federated clusters
    # The shard folders are listed when the merge runs, not now.
    merge=$(sbatch --parsable --export=ALL --dependency="afterok:$array" \
        --job-name=umwelt-eval-merge --cpus-per-task=1 --time=00:20:00 \
        --output=umwelt-eval-merge-%j.log \
        --wrap="umwelt eval merge --out '$OUT/merged' '$OUT'/shard-*")
    echo "submitted shards as job $array, the merge as job ${merge%%;*} (after all succeed)"
    exit 0
fi

K=$SLURM_ARRAY_TASK_ID
N=${SLURM_ARRAY_TASK_COUNT:?not an array task}
# shellcheck disable=SC2086  # FLAGS is a list of flags
umwelt eval --config "$CONFIG" --episodes "$EPISODES" --seed "$SEED" \
    --jobs "$JOBS" --shard "$K/$N" --out "$OUT/shard-$K" $FLAGS
