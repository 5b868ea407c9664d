#!/bin/bash
export TOOLKIT_NPM_MODELS=/work/main/models/npm
for wt in /work/main /work/i18 /work/main /work/i18; do
  echo "=== checkout $wt OMP_NUM_THREADS=1 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  cd $wt && OMP_NUM_THREADS=1 PYTHONPATH=$wt /work/main/.venv/bin/python scripts/bench/generate_sizes.py --seconds 30 --sizes 512 2>&1 | grep -v "^machine"
done
