#!/usr/bin/env bash
# Train lifters on a lent GPU machine (docs/model.md, "GPU training"), which holds only the repository.
#
#   bash scripts/device_train.sh prepare     # here: pack the data it needs into .devdata/ (~50 MB, git-ignored)
#   bash scripts/device_train.sh run         # there, from the repository root, .devdata carried; results in $OUT
#
# `run` restores ../shared/data (characters' measurements, the CMU index) and the motion cache from .devdata,
# times the two training-batch samplers (benchmarks/sampler_speed.py), trains the configs named in $CONFIGS side
# by side for $MINUTES each (they share the GPU; each config says where its batches are made: worker processes or
# the GPU itself), evaluates each run on the validation subjects, times the lifters with
# benchmarks/lifter_speed.py, and leaves in $OUT each run's last weights, JSON and state (<name>.tgz), its
# evaluations (<name>_eval27.json, <name>_eval.json), logs and the speed JSONs.  PY (default python3) and DEVICE (default
# cuda) can be overridden to rehearse on a CPU-only machine.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
CONFIGS=${CONFIGS:-"temporal_mlp_w48_long_gpu"}

if [ "${1:-}" = prepare ]; then
    data=../shared/data
    cache=${POSEMOE_CACHE:-$HOME/.cache/posemoe}
    index_id=$($PY -c "from core.datasets import read_index, _data_id, default_data_dir as d; print(_data_id(read_index(d())))") || exit 1
    [ -f "$cache/motion_$index_id.npz" ] || { echo "no motion cache $cache/motion_$index_id.npz: run posemoe eval once first" >&2; exit 1; }
    mkdir -p .devdata/characters .devdata/cmu
    grep -qx '/.devdata/' "$(git rev-parse --git-path info/exclude)" 2>/dev/null || echo '/.devdata/' >>"$(git rev-parse --git-path info/exclude)"
    cp -f "$data"/characters/*.json .devdata/characters/
    cp -f "$data"/mocap/cmu/index.csv "$data"/mocap/cmu/excluded.txt .devdata/cmu/
    # configs/temporal_mlp_v2_cont_gpu.toml starts from v2, which left core/assets when v3 replaced it
    mkdir -p .devdata/runs
    for f in temporal_mlp_v2.safetensors temporal_mlp_v2.json; do
        git show "143539e:core/assets/$f" >".devdata/runs/$f" || exit 1
    done
    $PY scripts/pack_motion_cache.py pack "$cache/motion_$index_id.npz" .devdata/motion.pack.npz || exit 1
    du -sh .devdata
    exit 0
fi
[ "${1:-}" = run ] || { echo "usage: bash scripts/device_train.sh prepare|run" >&2; exit 2; }

OUT=${OUT:?set OUT to the results folder}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 POSEMOE_CACHE=${POSEMOE_CACHE:-/tmp/posemoe_cache}
mkdir -p "$OUT"

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
    mkdir -p runs && cp -n .devdata/runs/* runs/ 2>/dev/null
    $PY scripts/pack_motion_cache.py unpack .devdata/motion.pack.npz "$POSEMOE_CACHE" || return 1
    $PY -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"

    $PY benchmarks/sampler_speed.py --threads 2 --json "$OUT/sampler_speed.json"
    local names=($CONFIGS) pids=() failed=0 i name
    for name in "${names[@]}"; do
        $PY -m core.training --config "configs/$name.toml" --out "runs/$name" --minutes "$MINUTES" --device "$DEVICE" \
            >"$OUT/$name.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { echo "training ${names[$i]} failed (see $OUT/${names[$i]}.log)"; failed=1; }
    done
    local weights=("$($PY -c 'from core.weights import DEFAULT_WEIGHTS as w; print(w.relative_to(w.parents[2]))')")
    for name in "${names[@]}"; do
        [ -f "runs/$name/last.safetensors" ] || continue
        weights+=("runs/$name/last.safetensors")
        tar czf "$OUT/$name.tgz" -C "runs/$name" last.safetensors last.json last.state.json config.json
        grep -E "val MPJPE|done:" "$OUT/$name.log" | tail -4
        # the validation figures the model card quotes: 27-frame windows and the model's own
        $PY -m core.training eval --weights "runs/$name/last.safetensors" --window 27 --threads 4 \
            --out "$OUT/${name}_eval27.json" >/dev/null 2>>"$OUT/$name.log" || failed=1
        $PY -m core.training eval --weights "runs/$name/last.safetensors" --threads 4 \
            --out "$OUT/${name}_eval.json" >/dev/null 2>>"$OUT/$name.log" || failed=1
        $PY -c "import json, sys; [print(f, json.load(open(f))['overall']) for f in sys.argv[1:]]" \
            "$OUT/${name}_eval27.json" "$OUT/${name}_eval.json" 2>/dev/null
    done
    $PY benchmarks/lifter_speed.py --weights "${weights[@]}" --repeats 3 --json "$OUT/lifter_speed.json" || failed=1
    date -u
    return $failed
}

run_all 2>&1 | tee -a "$OUT/run.log"
exit "${PIPESTATUS[0]}"
