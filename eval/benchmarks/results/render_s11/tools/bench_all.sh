#!/bin/bash
export TOOLKIT_NPM_MODELS=/work/main/models/npm
for th in 1 2; do
  for wt in /work/main /work/i18; do
    echo "=== checkout $wt OMP_NUM_THREADS=$th $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    cd $wt && OMP_NUM_THREADS=$th PYTHONPATH=$wt /work/main/.venv/bin/python scripts/bench/generate_sizes.py --seconds 30 2>&1
  done
done
