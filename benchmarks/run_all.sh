#!/usr/bin/env bash
# Every benchmark in one go, each printing its own side-by-side table (ribflow vs the reference
# measured in the same run: pmacct's nfacctd, the PyPI `netflow` package, ExaBGP alone, a
# pass-through Quix app). Output goes to the terminal and to $OUT/<name>.txt; the figures each
# benchmark writes to benchmarks/results/<name>.json are then rendered into README.md.
#
#   ./dev.sh bench                 # all of them (about 30-40 min on 2 cores)
#   ./dev.sh bench decode rib      # only some: decode collector bgp rib enricher aggregate replay fuzz
#
# Needs root (BGP daemons bind :179). The Kafka-based ones use Quix__Broker__Address, else they
# start the managed local Kafka on 127.0.0.1:9092 (and leave it running: `ribflow kafka down`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
ALL=(decode fuzz collector bgp rib enricher aggregate replay)
[ $# -gt 0 ] && ALL=("$@")

needs_kafka() {
    if [ -z "${Quix__Broker__Address:-}" ]; then
        .venv/bin/ribflow kafka up
        export Quix__Broker__Address=127.0.0.1:9092
    fi
}

for name in "${ALL[@]}"; do
    echo "=== $name ($(date -u +%H:%M:%S))"
    case "$name" in
        decode) cmd=("$PY" benchmarks/bench_decode.py) ;;
        fuzz) cmd=("$PY" benchmarks/fuzz_decoders.py --packets 1000000 --compiled) ;;
        collector) needs_kafka; cmd=("$PY" benchmarks/bench_collector.py --broker "$Quix__Broker__Address") ;;
        bgp) needs_kafka; cmd=("$PY" benchmarks/bench_bgp.py --tables both --rounds 3 --scaling 2,4) ;;
        rib) cmd=("$PY" benchmarks/bench_rib.py) ;;
        enricher) needs_kafka; cmd=("$PY" benchmarks/bench_enricher.py --broker "$Quix__Broker__Address") ;;
        aggregate) needs_kafka; cmd=("$PY" benchmarks/bench_aggregate.py --broker "$Quix__Broker__Address") ;;
        replay) needs_kafka; cmd=("$PY" benchmarks/bench_replay.py --broker "$Quix__Broker__Address") ;;
        *) echo "unknown benchmark $name (one of: ${ALL[*]})" >&2; exit 2 ;;
    esac
    "${cmd[@]}" 2>&1 | tee "$OUT/$name.txt"
done
echo "results in $OUT"
"$PY" benchmarks/readme_figures.py --write
