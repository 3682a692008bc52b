#!/bin/bash
# `make test-slurm`: the project's Slurm paths against a real one-node Slurm
# cluster on localhost (Debian's slurmctld, slurmd, slurm-client and munge,
# installed when missing and started without systemd by
# ../shared/tools/slurm/slurm-localhost.sh; stopped again at the end).
#
#  1. configs/slurm-prune.sh, dense protocol (ARMOR, 3 shards): calibrate →
#     array → assemble. One array task is killed (scancel) after it has
#     written some of its layers; the assemble job must then not run. The
#     same command is submitted again: calibration is skipped, the parts
#     written before the kill are not rewritten, the killed shard skips
#     them, and the assembled model equals a single-process `armor prune
#     --out` byte for byte (weights, factorized form, config; report.json
#     but for timings and paths).
#  2. configs/slurm-prune.sh, sequential protocol (Wanda, 2 shards, block by
#     block): equal to the single-process run byte for byte.
#  3. configs/slurm-array.sh (a sweep over 3 shards): one task killed and the
#     array resubmitted; the cells finished before the kill are kept, and the
#     merged tables equal a single-process sweep's.
#
# It prints "N passed, N failed" and exits non-zero if anything failed or
# Slurm could not be installed or started (never a silent skip).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${ARMOR_SHARED:-$ROOT/../shared}
SLURM_LOCAL=$SHARED/tools/slurm/slurm-localhost.sh
DATA=$SHARED/data
ITERS=${TEST_SLURM_ITERS:-3000}
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
loud() { printf '\n##########\n## FAIL: %s\n##########\n\n' "$*" >&2; }

if [ ! -f "$SLURM_LOCAL" ]; then
	loud "Slurm recipe $SLURM_LOCAL not found: the Slurm tests did not run"
	echo "0 passed, 1 failed"
	exit 1
fi
T=$(mktemp -d /tmp/armor-test-slurm.XXXXXX)
cleanup() {
	scancel --name=armor-calibrate --name=armor-prune --name=armor-assemble >/dev/null 2>&1 || true
	bash "$SLURM_LOCAL" stop >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
start=$(date +%s)
# Four task slots on this 2-core machine, so that the three shards run at once.
if ! SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-4} bash "$SLURM_LOCAL" start >"$T/slurm-start.log" 2>&1; then
	cat "$T/slurm-start.log" >&2
	loud "could not install or start Slurm (apt-get install slurmctld slurmd slurm-client munge, then munged/slurmctld/slurmd): the Slurm tests did not run"
	echo "0 passed, 1 failed"
	exit 1
fi
ok "slurm cluster up on localhost in $(($(date +%s) - start)) s ($(sinfo -h -o '%N %c CPUs %T'))"

A=$T/bin/armor
if ! go build ${GOTAGS:-} -o "$A" ./cmd/armor; then
	loud "go build failed"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
export ARMOR_DATA=$DATA
MODEL=$DATA/models/stories260K/stories260K.bin
TOK=$DATA/models/stories260K/tok512.bin
CALTXT=$DATA/text/tinystories/tinystories_val.txt
CAL="--tokenizer $TOK --calibration $CALTXT --cal-windows 8 --cal-length 128"
ARMORFLAGS=(--iters "$ITERS" --block-size 8 --precision float32 --seed 3)

# job_state ID: the state of a job (finished jobs stay known for MinJobAge).
job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
# wait_jobs TIMEOUT ID...: until none of the jobs is pending or running.
wait_jobs() {
	local t=$1 id
	shift
	for ((s = 0; s < t * 5; s++)); do
		local busy=0
		for id in "$@"; do
			[ -n "$(squeue -h -j "$id" 2>/dev/null)" ] && busy=1
		done
		[ $busy = 0 ] && return 0
		sleep 0.2
	done
	echo "timeout after ${t}s waiting for jobs $*" >&2
	squeue >&2
	return 1
}
# wait_for TIMEOUT COMMAND...: until COMMAND succeeds.
wait_for() {
	local t=$1
	shift
	for ((s = 0; s < t * 10; s++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
# same_export A B: identical exported files; report.json equal but for
# timings and the output path.
same_export() {
	local a=$1 b=$2 f rc=0
	while IFS= read -r f; do
		case $f in
		report.json)
			diff <(sed -E '/"(seconds|prune_seconds|eval_seconds)"/d' "$a/$f" | sed "s#$a#OUT#g") \
				<(sed -E '/"(seconds|prune_seconds|eval_seconds)"/d' "$b/$f" | sed "s#$b#OUT#g") >/dev/null ||
				{ echo "report.json differs" >&2; rc=1; } ;;
		*) cmp -s "$a/$f" "$b/$f" || { echo "$f differs or is missing" >&2; rc=1; } ;;
		esac
	done < <(cd "$a" && find . -type f | sed 's#^\./##' | sort)
	[ -f "$a/hf/config.json" ] || { echo "no hf/config.json in $a" >&2; rc=1; }
	return $rc
}
# part_stamps DIR: "name inode mtime" of every part.
part_stamps() { (cd "$1" && stat -c '%n %i %Y %y' ./*.safetensors 2>/dev/null | sort); }
jobs_of() { sed -n "s/.*$1 \([0-9]*\).*/\1/p" "$2" | head -1; }

# ---- 1. dense chain, a killed task, resubmission -------------------------
"$A" prune --model "$MODEL" $CAL --method armor "${ARMORFLAGS[@]}" --no-eval --out "$T/single-armor" >/dev/null 2>"$T/single-armor.log" ||
	{ cat "$T/single-armor.log" >&2; bad "single-process armor prune"; }
RUN=$T/run-armor
chain() { # chain LOG: submit the dense ARMOR chain
	CAL_FLAGS=$CAL CPUS=1 EVAL_FLAGS=--no-eval ARMOR=$A TIME=00:20:00 \
		configs/slurm-prune.sh "$MODEL" armor 3 "$RUN" "${ARMORFLAGS[@]}" >"$1" 2>&1
}
t0=$(date +%s)
if chain "$T/submit1.log"; then
	arr=$(jobs_of 'prune array' "$T/submit1.log")
	asm=$(jobs_of assemble "$T/submit1.log")
	cal=$(jobs_of calibrate "$T/submit1.log")
	log1=$RUN/logs/prune-${arr}_1.out
	# Kill task 1 once it has written two of its layers.
	if wait_for 300 bash -c "n=\$(grep -c 'proxy loss' '$log1' 2>/dev/null); [ \"\${n:-0}\" -ge 2 ]"; then
		scancel "${arr}_1"
		ok "array task ${arr}_1 killed after $(grep -c 'proxy loss' "$log1") of its layers"
	else
		bad "array task ${arr}_1 never wrote two layers"
	fi
	wait_jobs 300 "$cal" "$arr" "$asm"
	check "killed task: array task 1 is $(job_state "${arr}_1"), assemble job is $(job_state "$asm") and wrote nothing" \
		bash -c "[ '$(job_state "$asm")' != COMPLETED ] && [ ! -e '$RUN/model' ]"
	before=$(part_stamps "$RUN/parts")
	nbefore=$(printf '%s\n' "$before" | grep -c safetensors)
	check "$nbefore of 35 parts were complete before resubmission" bash -c "[ $nbefore -gt 0 ] && [ $nbefore -lt 35 ]"
	if chain "$T/submit2.log"; then
		arr2=$(jobs_of 'prune array' "$T/submit2.log")
		asm2=$(jobs_of assemble "$T/submit2.log")
		cal2=$(jobs_of calibrate "$T/submit2.log")
		wait_jobs 600 "$cal2" "$arr2" "$asm2"
		check "resubmitted chain: assemble job $(job_state "$asm2")" [ "$(job_state "$asm2")" = COMPLETED ]
		check "resubmitted calibrate skipped the complete statistics" grep -q 'nothing to do' "$RUN/logs/calibrate-$cal2.out"
		after=$(part_stamps "$RUN/parts")
		check "the $nbefore parts finished before the kill were not recomputed (same inode and mtime)" \
			bash -c "[ -z \"\$(comm -23 <(printf '%s\n' \"\$1\") <(printf '%s\n' \"\$2\"))\" ]" _ "$before" "$after"
		check "the resubmitted task 1 skipped its finished layers ($(grep -o '[0-9]* already done' "$RUN/logs/prune-${arr2}_1.out"))" \
			bash -c "grep -q '[1-9][0-9]* already done' '$RUN/logs/prune-${arr2}_1.out'"
		check "calibrate → 3 shards (one killed, resubmitted) → assemble equals single-process armor prune byte for byte" \
			same_export "$T/single-armor" "$RUN/model"
	else
		cat "$T/submit2.log" >&2
		bad "resubmission of configs/slurm-prune.sh"
	fi
else
	cat "$T/submit1.log" >&2
	bad "submission of configs/slurm-prune.sh"
fi
echo "dense chain with a killed task: $(($(date +%s) - t0)) s"

# ---- 2. sequential chain, block by block ----------------------------------
t0=$(date +%s)
"$A" prune --model "$MODEL" $CAL --method wanda --no-eval --out "$T/single-wanda" >/dev/null 2>"$T/single-wanda.log" ||
	{ cat "$T/single-wanda.log" >&2; bad "single-process wanda prune"; }
if CAL_FLAGS=$CAL CPUS=1 EVAL_FLAGS=--no-eval ARMOR=$A BLOCKS=5 TIME=00:20:00 \
	configs/slurm-prune.sh "$MODEL" wanda 2 "$T/run-wanda" >"$T/submit3.log" 2>&1; then
	asm=$(jobs_of assemble "$T/submit3.log")
	wait_jobs 300 $(grep -o '[0-9][0-9]*' "$T/submit3.log" | tr '\n' ' ')
	check "sequential chain (5 × calibrate --block k → 2 shards, then assemble): assemble job $(job_state "$asm")" [ "$(job_state "$asm")" = COMPLETED ]
	check "sequential chain equals single-process wanda prune byte for byte" same_export "$T/single-wanda" "$T/run-wanda/model"
else
	cat "$T/submit3.log" >&2
	bad "submission of the sequential chain"
fi
echo "sequential chain: $(($(date +%s) - t0)) s"

# ---- 3. sweep array, a killed task, resubmission ---------------------------
t0=$(date +%s)
# outputs.cost=false: the cost columns hold measured timings, which differ between any two runs.
SWEEP_SET="armor.iters=$ITERS outputs.cost=false"
mkdir -p "$T/sweep-ref" "$T/sweep/bin"
(cd "$T/sweep-ref" && "$A" sweep --config "$ROOT/configs/synthetic.yaml" --set "$SWEEP_SET" >/dev/null 2>&1) || bad "single-process sweep"
ln -s "$A" "$T/sweep/bin/armor"
sweep_array() { # sweep_array: submit configs/slurm-array.sh over 3 shards from $T/sweep
	(cd "$T/sweep" && CONFIG=$ROOT/configs/synthetic.yaml SET=$SWEEP_SET \
		sbatch --parsable --array=0-2 --cpus-per-task=1 --time=00:20:00 "$ROOT/configs/slurm-array.sh" | cut -d';' -f1)
}
shard1=$T/sweep/results/synthetic/cells.shard-1-of-3.jsonl
if sa=$(sweep_array); then
	if wait_for 300 test -s "$shard1"; then
		scancel "${sa}_1"
		ok "sweep task ${sa}_1 killed after its first cell"
	else
		bad "sweep task ${sa}_1 never finished a cell"
	fi
	wait_jobs 300 "$sa"
	sleep 1
	wait_jobs 120 $(squeue -h -n armor-merge -o %i)
	cp "$shard1" "$T/shard1.before"
	check "killed sweep task: not merged" test ! -e "$T/sweep/results/synthetic/tables.md"
	if sa2=$(sweep_array); then
		wait_jobs 600 "$sa2"
		wait_for 30 bash -c "[ -n \"\$(squeue -h -n armor-merge -o %i)\" ] || [ -e '$T/sweep/results/synthetic/tables.md' ]"
		wait_jobs 300 $(squeue -h -n armor-merge -o %i)
		n0=$(wc -c <"$T/shard1.before")
		check "resubmitted sweep kept the $(wc -l <"$T/shard1.before") cells of task 1 finished before the kill" \
			cmp -s "$T/shard1.before" <(head -c "$n0" "$shard1")
		check "resubmitted sweep task 1 did not run them again (no duplicate cells)" \
			bash -c "[ \$(grep -o '\"key\":\"[0-9a-f]*\"' '$shard1' | sort | uniq -d | wc -l) = 0 ]"
		same_tables() {
			local f rc=0
			for f in "$T"/sweep-ref/results/synthetic/*.csv "$T"/sweep-ref/results/synthetic/*.md; do
				cmp -s "$f" "$T/sweep/results/synthetic/$(basename "$f")" || { echo "$(basename "$f") differs" >&2; rc=1; }
			done
			return $rc
		}
		check "sweep over 3 Slurm array tasks (one killed, resubmitted) merges to the single-process tables" same_tables
	else
		bad "resubmission of configs/slurm-array.sh"
	fi
else
	bad "submission of configs/slurm-array.sh"
fi
echo "sweep array with a killed task: $(($(date +%s) - t0)) s"

echo "test-slurm: $(($(date +%s) - start)) s in all"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
