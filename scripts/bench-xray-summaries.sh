#!/usr/bin/env bash
# One GetTraceSummaries request against a running server's API port (default 127.0.0.1:14320,
# as scripts/bench-xray-udp.sh starts it), over the last two hours; prints the wall time, the
# summaries returned and TracesProcessedCount.
# usage: scripts/bench-xray-summaries.sh FILTER [TimeRangeType]
set -euo pipefail
API="${API:-127.0.0.1:14320}"
now=$(date +%s); start=$((now-7200))
out_file=$(mktemp)
trap 'rm -f "$out_file"' EXIT
body=$(python3 -c "import json,sys; d={'StartTime':$start,'EndTime':$now}; f=sys.argv[1]; t=sys.argv[2] if len(sys.argv)>2 else '';
if f: d['FilterExpression']=f
if t: d['TimeRangeType']=t
print(json.dumps(d))" "$1" "${2:-}")
out=$(curl -s -o "$out_file" -w '%{time_total}' -X POST http://$API/TraceSummaries -H 'content-type: application/json' -d "$body")
python3 -c "import json; d=json.load(open('"$out_file"')); print('$out s', len(d.get('TraceSummaries',[])), d.get('TracesProcessedCount'), d.get('message',''))"
