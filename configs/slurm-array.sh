#!/bin/bash
# Spread a sweep over a Slurm job array: task i of n runs every n-th cell
# into results/<experiment>/cells.shard-i-of-n.jsonl; a dependent job merges
# the shards into cells.jsonl and renders the tables and plots.
#
#   sbatch configs/slurm-array.sh                      # CONFIG=configs/llama.yaml, 8 shards
#   CONFIG=configs/synthetic.yaml sbatch --array=0-3 configs/slurm-array.sh
#
# Every task must see the same repository checkout and results/ directory
# (a shared file system). A shard that is killed (time limit, preemption)
# resumes where it stopped when resubmitted: finished cells are skipped.
#SBATCH --job-name=armor-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

CONFIG=${CONFIG:-configs/llama.yaml}
SET=${SET:-}
N=${SLURM_ARRAY_TASK_COUNT:?run this under sbatch --array}
I=${SLURM_ARRAY_TASK_ID:?run this under sbatch --array}

cd "${SLURM_SUBMIT_DIR:-.}"
[ -x bin/armor ] || go build -o bin/armor ./cmd/armor

bin/armor sweep --config "$CONFIG" ${SET:+--set "$SET"} --shard "$I/$N" \
	--workers "${SLURM_CPUS_PER_TASK:-0}" --progress lines

# The first task submits the merge, to run once every task has succeeded.
if [ "$I" = "${SLURM_ARRAY_TASK_MIN:-0}" ]; then
	sbatch --dependency="afterok:${SLURM_ARRAY_JOB_ID}" --job-name=armor-merge \
		--output="slurm-%j-merge.out" \
		--wrap "bin/armor merge --config $CONFIG && bin/armor tables --config $CONFIG"
fi
