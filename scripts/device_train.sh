#!/usr/bin/env bash
# Train lifters on a lent GPU machine (docs/model.md, "GPU training"), which holds only the repository.
#
#   bash scripts/device_train.sh prepare     # here: pack the data it needs into .devdata/ (~35 MiB, git-ignored)
#   bash scripts/device_train.sh run         # there, from the repository root, .devdata carried; results in $OUT
#
# `run` restores ../shared/data (characters' measurements, the CMU index) and the motion cache from .devdata,
# times the two training-batch samplers (benchmarks/sampler_speed.py), trains the configs named in $CONFIGS side
# by side for $MINUTES each (they share the GPU; each config says where its batches are made: worker processes or
# the GPU itself), evaluates each run on the validation subjects, times the lifters with
# benchmarks/lifter_speed.py, and leaves in $OUT each run's last weights, JSON and state (<name>.tgz), its
# evaluations (<name>_eval27.json, <name>_eval.json; EVAL=0 leaves them to the development machine, saving device
# time), logs and the speed JSONs.  A run that breaks in its first minutes is retried with worker processes making
# its batches.  PY (default python3) and DEVICE (default cuda) can be overridden to rehearse on a CPU-only machine.
# CHECKS=0 skips the CUDA sampler test and the sampler timing (both done on 2026-11-26) to save device time;
# SPEED_S (default 180, seconds) bounds the lifter timing, which skips the shipped weights if they were moved out.  An archive over 15 MiB (the device returns files of at most
# 16 MiB) comes back in parts <name>.tgz.part-aa, -ab, ...: join them with `cat <name>.tgz.part-* >name.tgz`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
CONFIGS=${CONFIGS:-"temporal_mlp_v8_cont_gpu"}

if [ "${1:-}" = prepare ]; then
    data=../shared/data
    cache=${POSEMOE_CACHE:-$HOME/.cache/posemoe}
    index_id=$($PY -c "from core.datasets import read_index, _data_id, default_data_dir as d; print(_data_id(read_index(d())))") || exit 1
    [ -f "$cache/motion_$index_id.npz" ] || { echo "no motion cache $cache/motion_$index_id.npz: run posemoe eval once first" >&2; exit 1; }
    mkdir -p .devdata/characters .devdata/cmu
    grep -qx '/.devdata/' "$(git rev-parse --git-path info/exclude)" 2>/dev/null || echo '/.devdata/' >>"$(git rev-parse --git-path info/exclude)"
    cp -f "$data"/characters/*.json .devdata/characters/
    cp -f "$data"/mocap/cmu/index.csv "$data"/mocap/cmu/excluded.txt .devdata/cmu/
    # Configs that start from weights which have left core/assets (v2: temporal_mlp_v2_cont_gpu; v3:
    # temporal_mlp_w48_long_gpu; v4: temporal_mlp_v4_cont_gpu, temporal_mlp_v4_deep_gpu; v5: temporal_mlp_v5_cont_gpu,
    # temporal_mlp_v5_cont2_gpu; v6: temporal_mlp_v6_cont_gpu, temporal_mlp_v6_high_cpu; v7: temporal_mlp_v7_cont_gpu,
    # temporal_mlp_v7_cont_cpu) read them from runs/:
    # restore them there and carry them when such a config runs. They stay out of .devdata, which travels on every
    # call: the tree (~24 MiB with v8) and .devdata (~35 MiB) leave about 5 MiB of the 64 a call may send.
    # A weights file git cannot give (a shallow clone) is warned about, not fatal: the default config needs none.
    mkdir -p runs
    for f in 143539e:temporal_mlp_v2 b6e9bb6:temporal_mlp_v3 a4965d1:temporal_mlp_v4 0f96efe:temporal_mlp_v5 574dcfb:temporal_mlp_v6 e828429:temporal_mlp_v7; do
        for ext in safetensors json; do
            dest="runs/${f#*:}.$ext"
            [ -s "$dest" ] && continue
            if git show "${f%%:*}:core/assets/${f#*:}.$ext" >"$dest.tmp" 2>/dev/null; then
                mv "$dest.tmp" "$dest"
            else
                rm -f "$dest.tmp"; echo "warning: $dest not restored (commit ${f%%:*} missing)" >&2
            fi
        done
    done
    $PY scripts/pack_motion_cache.py pack "$cache/motion_$index_id.npz" .devdata/motion.pack.npz || exit 1
    # What one device call sends: tracked files + .devdata (+ anything carried) must stay under 64 MiB.
    tree_b=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
    dev_b=$(du -sb .devdata | cut -f1)
    echo "a call sends $(( (tree_b + dev_b) / 1048576 )) MiB (tracked files $(( tree_b / 1048576 )), .devdata $(( dev_b / 1048576 ))) of 64"
    [ $(( tree_b + dev_b )) -gt $(( 62 * 1048576 )) ] && echo "warning: under 2 MiB left for what a call carries" >&2
    exit 0
fi
[ "${1:-}" = run ] || { echo "usage: bash scripts/device_train.sh prepare|run" >&2; exit 2; }

OUT=${OUT:?set OUT to the results folder}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
EVAL=${EVAL:-1}
CHECKS=${CHECKS:-1}
SPEED_S=${SPEED_S:-180}
case "$CHECKS$EVAL" in [01][01]) ;; *) echo "CHECKS and EVAL take 0 or 1" >&2; exit 2 ;; esac
[[ "$SPEED_S" =~ ^[1-9][0-9]*$ ]] || { echo "SPEED_S takes a whole number of seconds > 0" >&2; exit 2; }
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 POSEMOE_CACHE=${POSEMOE_CACHE:-/tmp/posemoe_cache}
mkdir -p "$OUT"

train() {  # train NAME MINUTES [overrides...]: one config, stopped by the clock if it outlives its budget
    local name=$1 minutes=$2
    shift 2
    timeout "$(awk "BEGIN {print int($minutes * 60 + 120)}")" $PY -m core.training --config "configs/$name.toml" \
        --out "runs/$name" --minutes "$minutes" --device "$DEVICE" "$@"
}

run_all() {
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
    echo "cores: $(OMP_NUM_THREADS= nproc)"; df -h /dev/shm | tail -1
    # Batches travel from the workers through /dev/shm (~0.6 GB in flight per run): make room where it is small.
    local shm_kb
    shm_kb=$(df -k /dev/shm | awk 'NR==2 {print $2}')
    [ "${shm_kb:-0}" -lt 4000000 ] && [ "$(id -u)" = 0 ] && mount -o remount,size=8G /dev/shm && df -h /dev/shm | tail -1
    if [ ! -f ../shared/data/mocap/cmu/index.csv ]; then
        mkdir -p ../shared/data/characters ../shared/data/mocap/cmu
        cp .devdata/characters/*.json ../shared/data/characters/
        cp .devdata/cmu/* ../shared/data/mocap/cmu/
    fi
    $PY scripts/pack_motion_cache.py unpack .devdata/motion.pack.npz "$POSEMOE_CACHE" || return 1
    $PY -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"

    # the CUDA-only check of the device sampler (TF32 kept out of its matrix products) where CUDA is present
    if [ "$CHECKS" = 1 ]; then
        [ "$DEVICE" = cuda ] && timeout 120 $PY -m pytest -q -p no:cacheprovider -m "" tests/unit/test_synthetic_device.py
        timeout 120 $PY benchmarks/sampler_speed.py --threads 2 --json "$OUT/sampler_speed.json"
    fi
    local names=($CONFIGS) pids=() failed=0 i name t0=$SECONDS
    for name in "${names[@]}"; do
        train "$name" "$MINUTES" >"$OUT/$name.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        name=${names[$i]}
        wait "${pids[$i]}" && continue
        # A run that breaks early (say, batches made on the GPU fail there) gets the rest of its time with
        # batches from worker processes, so one broken piece does not cost the whole lease.
        local left
        left=$(awk "BEGIN {print int($MINUTES * 60 - ($SECONDS - $t0))}")
        if [ "$left" -gt 90 ] && [ ! -f "runs/$name/last.safetensors" ]; then
            echo "training $name failed after $((SECONDS - t0)) s (see $OUT/$name.log): again with worker processes"
            train "$name" "$(awk "BEGIN {print $left / 60}")" --sampler numpy \
                --workers "$(( $(OMP_NUM_THREADS= nproc) - 2 ))" >>"$OUT/$name.log" 2>&1 && continue
        fi
        echo "training $name failed (see $OUT/$name.log)"; failed=1
    done
    local weights=() shipped
    shipped=$($PY -c 'from core.weights import DEFAULT_WEIGHTS as w; print(w.relative_to(w.parents[2]))')
    [ -f "$shipped" ] && weights+=("$shipped")  # moved out of the checkout to make room for carried weights
    for name in "${names[@]}"; do
        [ -f "runs/$name/last.safetensors" ] || continue
        weights+=("runs/$name/last.safetensors")
        tar czf "$OUT/$name.tgz" -C "runs/$name" last.safetensors last.json last.state.json config.json
        if [ "$(stat -c %s "$OUT/$name.tgz")" -gt 15728640 ]; then
            split -b 15M "$OUT/$name.tgz" "$OUT/$name.tgz.part-" && rm "$OUT/$name.tgz"
        fi
        grep -E "val MPJPE|done:" "$OUT/$name.log" | tail -4
        [ "$EVAL" = 1 ] || continue
        # the validation figures the model card quotes: 27-frame windows and the model's own
        $PY -m core.training eval --weights "runs/$name/last.safetensors" --window 27 --threads 4 \
            --out "$OUT/${name}_eval27.json" >/dev/null 2>>"$OUT/$name.log" || failed=1
        $PY -m core.training eval --weights "runs/$name/last.safetensors" --threads 4 \
            --out "$OUT/${name}_eval.json" >/dev/null 2>>"$OUT/$name.log" || failed=1
        $PY -c "import json, sys; [print(f, json.load(open(f))['overall']) for f in sys.argv[1:]]" \
            "$OUT/${name}_eval27.json" "$OUT/${name}_eval.json" 2>/dev/null
    done
    if [ "${#weights[@]}" -gt 0 ]; then
        timeout "$SPEED_S" $PY benchmarks/lifter_speed.py --weights "${weights[@]}" --repeats 3 \
            --json "$OUT/lifter_speed.json" || failed=1
    fi
    date -u
    return $failed
}

run_all 2>&1 | tee -a "$OUT/run.log"
exit "${PIPESTATUS[0]}"
