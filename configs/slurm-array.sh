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
# Resubmit the whole array, or only some tasks with the shard count given:
#
#   SHARDS=8 sbatch --array=3,5 configs/slurm-array.sh
#
# (scripts/test-slurm.sh kills a task and resubmits against a real Slurm.)
#SBATCH --job-name=armor-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

CONFIG=${CONFIG:-configs/llama.yaml}
SET=${SET:-}
N=${SHARDS:-${SLURM_ARRAY_TASK_COUNT:?run this under sbatch --array}}
I=${SLURM_ARRAY_TASK_ID:?run this under sbatch --array}

cd "${SLURM_SUBMIT_DIR:-.}"
[ -x bin/armor ] || go build -o bin/armor ./cmd/armor

bin/armor sweep --config "$CONFIG" ${SET:+--set "$SET"} --shard "$I/$N" \
	--workers "${SLURM_CPUS_PER_TASK:-0}" --progress lines

# The first task submits the merge, to run once every task has succeeded;
# the tables are rendered with the same --set overrides as the cells.
if [ "$I" = "${SLURM_ARRAY_TASK_MIN:-0}" ]; then
	TABLES="bin/armor tables --config $(printf %q "$CONFIG")"
	if [ -n "$SET" ]; then TABLES="$TABLES --set $(printf %q "$SET")"; fi
	sbatch --dependency="afterok:${SLURM_ARRAY_JOB_ID}" --job-name=armor-merge \
		--output="slurm-%j-merge.out" \
		--wrap "bin/armor merge --config $(printf %q "$CONFIG") && $TABLES"
fi
