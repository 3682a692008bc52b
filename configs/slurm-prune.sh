#!/bin/bash
# Prune a whole model on a Slurm cluster with the staged pipeline
# (docs/cluster.md): a calibrate job, an array job over layer shards that
# starts when calibration succeeded (afterok), and an assemble job that
# starts when every shard succeeded. Run it where sbatch works (a login
# node); it submits the jobs and prints their ids.
#
#   configs/slurm-prune.sh MODEL METHOD SHARDS OUT [armor prune flags...]
#
#   configs/slurm-prune.sh /shared/Llama-2-7b-hf armor 32 /shared/runs/7b-armor --iters 2000
#
# Files under OUT (which every node must see, e.g. on a shared file system):
#   stats/   block-<k>.safetensors: calibration statistics, one per block
#   parts/   <layer>.safetensors: one pruned linear layer each
#   model/   the assembled model: report.json, hf/ and (armor) factored/
#   logs/    one log per job and array task
#
# Resubmitting after a failure, a time limit or a killed task: run the same
# command again. Calibration is skipped when OUT/stats already holds it,
# every shard skips the layers whose part is complete (and redoes a damaged
# one), and assemble runs once all shards succeeded. To rerun only some
# shards, set ARRAY (e.g. ARRAY=3,5); the shard count stays SHARDS.
#
# The sequential protocol (--protocol sequential; the default of wanda and
# sparsegpt) needs the pruned blocks < k before block k can be calibrated:
# with BLOCKS=<number of decoder blocks> set, the script chains, for every
# block k, a calibrate job (--block k) and an array job over the shards of
# that block's seven layers, then assemble. Only the seven layers of one
# block run in parallel there; the dense protocol (nowag, armor, or
# --protocol dense) parallelises over all layers.
#
# Environment (all optional):
#   ARMOR        the armor binary (default: bin/armor, built with go if missing)
#   CAL_FLAGS    calibration flags, e.g. "--cal-windows 128 --cal-length 2048 --tokenizer T";
#                --full-h is added when the layer errors (prune's default) or sparsegpt need H
#   EVAL_FLAGS   flags of the assemble job (default "--no-eval"; e.g. "--max-windows 64")
#   SBATCH_FLAGS extra sbatch flags for every job (partition, account, ...)
#   CPUS         CPUs per task (default 8); TIME per job (default 04:00:00)
#   ARRAY        array indices to submit (default 0-(SHARDS-1))
#   BLOCKS       decoder blocks (required with the sequential protocol)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d' >&2; exit 2; }
[ $# -ge 4 ] || usage
MODEL=$1 METHOD=$2 SHARDS=$3 OUT=$4
shift 4
case $SHARDS in '' | *[!0-9]* | 0) echo "slurm-prune.sh: SHARDS must be a positive integer, got '$SHARDS'" >&2; exit 2 ;; esac

ARMOR=${ARMOR:-bin/armor}
if [ ! -x "$ARMOR" ]; then
	go build -o "$ARMOR" ./cmd/armor
fi
ARMOR=$(cd "$(dirname "$ARMOR")" && pwd)/$(basename "$ARMOR")
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
CPUS=${CPUS:-8}
TIME=${TIME:-04:00:00}
EVAL_FLAGS=${EVAL_FLAGS:---no-eval}
ARRAY=${ARRAY:-0-$((SHARDS - 1))}

# The protocol and whether H is needed follow armor prune's defaults.
PROTOCOL=
FULLH=--full-h
prev=
for a in "$@"; do
	case $a in
	--protocol=*) PROTOCOL=${a#--protocol=} ;;
	--layer-errors=false) [ "$METHOD" = sparsegpt ] || FULLH= ;;
	esac
	[ "$prev" = --protocol ] && PROTOCOL=$a
	prev=$a
done
if [ -z "$PROTOCOL" ]; then
	case $METHOD in nowag | armor) PROTOCOL=dense ;; *) PROTOCOL=sequential ;; esac
fi
# sparsegpt in float32 accumulates H with float32 Gram products.
PREC=$(printf '%s\n' "$@" | awk 'p {print; exit} /^--precision$/ {p=1} /^--precision=/ {sub(/^--precision=/, ""); print; exit}')

q() { printf '%q ' "$@"; }
MODELQ=$(q --model "$MODEL")
CAL="$(q "$ARMOR") calibrate $MODELQ --method $(q "$METHOD") ${PREC:+--precision $(q "$PREC")} --protocol $PROTOCOL $FULLH ${CAL_FLAGS:-} --out $(q "$OUT/stats") -v"
EXTRA=
if [ $# -gt 0 ]; then EXTRA=$(q "$@"); fi
PRUNE="$(q "$ARMOR") prune $MODELQ --method $(q "$METHOD") $EXTRA --stats $(q "$OUT/stats") --out $(q "$OUT/parts") --workers $CPUS -v"
# assemble evaluates with the tokenizer and corpus the statistics recorded.
ASSEMBLE="$(q "$ARMOR") assemble $MODELQ --parts $(q "$OUT/parts") $EVAL_FLAGS --out $(q "$OUT/model")"

submit() { # submit NAME DEPENDENCY [sbatch flags...] -- COMMAND
	local name=$1 dep=$2
	shift 2
	local flags=()
	while [ "$1" != -- ]; do flags+=("$1"); shift; done
	shift
	# shellcheck disable=SC2086
	sbatch --parsable --job-name="armor-$name" --time="$TIME" --cpus-per-task="$CPUS" \
		${dep:+--dependency=afterok:$dep} ${SBATCH_FLAGS:-} "${flags[@]}" --wrap "$*" | cut -d';' -f1
}

echo "model $MODEL, $METHOD ($PROTOCOL protocol), $SHARDS shards, under $OUT"
if [ "$PROTOCOL" = dense ]; then
	cal=$(submit calibrate "" --output="$OUT/logs/calibrate-%j.out" -- "$CAL")
	arr=$(submit prune "$cal" --array="$ARRAY" --output="$OUT/logs/prune-%A_%a.out" -- "$PRUNE --layers \$SLURM_ARRAY_TASK_ID/$SHARDS")
	echo "calibrate $cal, prune array $arr ($ARRAY)"
else
	: "${BLOCKS:?the sequential protocol needs BLOCKS=<number of decoder blocks> (or pass --protocol dense)}"
	arr=
	for ((k = 0; k < BLOCKS; k++)); do
		cal=$(submit "calibrate-$k" "$arr" --output="$OUT/logs/calibrate-$k-%j.out" -- "$CAL --block $k --parts $(q "$OUT/parts")")
		arr=$(submit "prune-$k" "$cal" --array="$ARRAY" --output="$OUT/logs/prune-$k-%A_%a.out" -- "$PRUNE --layers \$SLURM_ARRAY_TASK_ID/$SHARDS")
		echo "block $k: calibrate $cal, prune array $arr ($ARRAY)"
	done
fi
asm=$(submit assemble "$arr" --output="$OUT/logs/assemble-%j.out" -- "$ASSEMBLE")
echo "assemble $asm"
echo "$asm" >"$OUT/logs/last-assemble-job"
