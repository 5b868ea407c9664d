#!/bin/bash
# usage: cpu.sh label size out [extra env via env]; prints wall, user, sys (process + children)
cd ${WT:-/work/i18}
export TOOLKIT_NPM_MODELS=/work/main/models/npm
REF=${REF:-/work/shared/data/av/Hangz-nju-cuhk__Talking-Face_PC-AVS__Input_00010.mp4}
L0=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "$1 size $2: wall %e user %U sys %S maxrss %MkB minflt %R load_before $L0" env PYTHONPATH=$PWD /work/main/.venv/bin/python -m toolkit generate --quiet -r $REF -a ${AUDIO:-/work/runs11_i18/speech30.wav} -o $3 --size $2 ${EXTRA} 2>&1 | grep -E "size|wrote" | grep -v "^warning"
echo "load after $(cut -d' ' -f1 /proc/loadavg)"
