#!/usr/bin/env bash
# Where a running relayer's resident memory goes: run beside compare-bench, stop with Ctrl-C or
# kill. Every 0.5 s it reads each `ferry … start` process (not attestors); whenever one's RSS is
# the highest seen, it writes that sample to OUT.<pid>.{status,maps}: RssAnon/RssFile from
# /proc/<pid>/status, and resident KiB per mapping from /proc/<pid>/smaps (binary, libraries,
# heap, anonymous).
#   tests/bench/compare/rss-breakdown.sh /tmp/rss/w3 &
set -euo pipefail
out=${1:?usage: rss-breakdown.sh OUT-PREFIX}
mkdir -p "$(dirname "$out")"
while true; do
  for p in $(pgrep -x ferry || true); do
    cmd=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || continue
    [[ $cmd == *" start "* && $cmd != *" attestor start "* ]] || continue
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    [[ -n $rss ]] || continue
    best=$(cat "$out.$p.max" 2>/dev/null || echo 0)
    if (( rss > best )); then
      echo "$rss" > "$out.$p.max"
      grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|Threads):' "/proc/$p/status" > "$out.$p.status" || true
      awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anonymous]" : $6)}
           /^Rss:/ {rss[name] += $2}
           END {for (n in rss) if (rss[n] > 0) print rss[n], n}' "/proc/$p/smaps" 2>/dev/null \
        | sort -rn > "$out.$p.maps" || true
    fi
  done
  sleep 0.5
done
