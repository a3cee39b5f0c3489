#!/bin/bash
# run_all.sh -- rerun every anchor measurement; logs and results under $BENCH_OUT.
# Needs: root, nfacctd (pmacct 1.7.x), gobgpd/gobgp, python3, network access to PyPI once
# (for the `netflow` venv), the MRT table $BENCH_OUT/rib-100k.mrt (or MRT=... ;
# regenerate with tests/data/enrich/gen_mrt.py OUT.mrt 100000 20000).
# Nothing else may listen on 127.0.0.3:179/50051 or 127.0.0.4:179/2100 while it runs.
set -e
H=$(cd "$(dirname "$0")" && pwd)
A=${BENCH_OUT:-$PWD/bench-out}; export BENCH_OUT=$A; mkdir -p $A
HERE=$(cd "$(dirname "$0")" && pwd)
MRT=${MRT:-$A/rib-100k.mrt}
[ -f "$MRT" ] || python3 "$HERE/../../tests/data/enrich/gen_mrt.py" "$MRT" 100000 20000
SECS=${SECS:-10}
[ -x $A/venv/bin/python ] || { python3 -m venv $A/venv && $A/venv/bin/pip install -q netflow; }
[ -f $A/pool-v9-2M.bin ]      || python3 $H/flowgen.py pool $A/pool-v9-2M.bin --flows 2000000
[ -f $A/pool-v9-200k.bin ]    || python3 $H/flowgen.py pool $A/pool-v9-200k.bin --flows 200000
[ -f $A/pool-ipfix-200k.bin ] || python3 $H/flowgen.py pool $A/pool-ipfix-200k.bin --version 10 --flows 200000
echo "== 3. python netflow decode"; $A/venv/bin/python $H/bench_pynetflow.py --seconds $SECS | tee $A/pynetflow.jsonl
echo "== 1+4. nfacctd with BGP, JSON to file"
python3 $H/bench_nfacctd.py --mode bgp --output file --mrt $MRT --seconds $SECS \
  --rates ${RATES_BGP:-50000,100000,150000,175000,190000,200000,250000,0} 2>&1 | tee $A/nfacctd-bgp-file.txt
echo "== 1b. nfacctd with BGP, JSON to /dev/null"
python3 $H/bench_nfacctd.py --mode bgp --output devnull --mrt $MRT --seconds $SECS \
  --rates ${RATES_BGP_NULL:-150000,175000,200000,0} 2>&1 | tee $A/nfacctd-bgp-devnull.txt
echo "== 2. nfacctd without BGP (nfacctd_as: netflow), JSON to file"
python3 $H/bench_nfacctd.py --mode nobgp --output file --seconds $SECS \
  --rates ${RATES_NOBGP:-100000,200000,300000,350000,400000,0} 2>&1 | tee $A/nfacctd-nobgp-file.txt
echo "== 2b. nfacctd without BGP, JSON to /dev/null"
python3 $H/bench_nfacctd.py --mode nobgp --output devnull --seconds $SECS \
  --rates ${RATES_NOBGP_NULL:-300000,350000,400000,0} 2>&1 | tee $A/nfacctd-nobgp-devnull.txt
