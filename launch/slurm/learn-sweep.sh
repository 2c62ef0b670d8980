#!/usr/bin/env bash
# A learning sweep as a Slurm job array: every recipe in configs/learn/
# times every seed in SEEDS, one `umwelt learn` per array task, into
# runs/sweep/<task>/seed<S>.
#
#   bash launch/slurm/learn-sweep.sh     # on the login node, from the repository root: submits the array
#
# Array task i (1-based) is recipe (i-1) % R and seed (i-1) / R, R the
# number of recipes, so the array must be 1-(R x seeds): 8 recipes x 3
# seeds = 1-24. A task checks that the array matches and refuses
# otherwise. A requeued task (--requeue, preemption) resumes its run.
#
#SBATCH --job-name=umwelt-learn-sweep
#SBATCH --array=1-24
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=umwelt-learn-%A_%a.log
set -euo pipefail

SEEDS=${SEEDS:-"0 1 2"}
RECIPES=${RECIPES:-configs/learn}
OUT=${OUT:-runs/sweep}

if [[ -z "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    export SEEDS RECIPES OUT
    sbatch --export=ALL "$0"
    exit 0
fi

recipes=("$RECIPES"/*.toml)
read -r -a seeds <<< "$SEEDS"
total=$(( ${#recipes[@]} * ${#seeds[@]} ))
if [[ "${SLURM_ARRAY_TASK_COUNT:-}" != "$total" ]]; then
    echo "error: ${#recipes[@]} recipes x ${#seeds[@]} seeds need --array=1-$total, this array has ${SLURM_ARRAY_TASK_COUNT:-no} tasks" >&2
    exit 1
fi
i=$(( SLURM_ARRAY_TASK_ID - 1 ))
recipe=${recipes[$(( i % ${#recipes[@]} ))]}
seed=${seeds[$(( i / ${#recipes[@]} ))]}
task=$(basename "$recipe" .toml)
out="$OUT/$task/seed$seed"
resume=()
if [[ -f "$out/learn.json" ]]; then
    resume=(--resume)   # a requeued task carries on where it stopped
fi
umwelt learn --recipe "$recipe" --seed "$seed" --out "$out" "${resume[@]}"
