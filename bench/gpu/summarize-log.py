"""One line per case of a bench/gpu/attention.ts log (its JSON lines), for reading results on the
device machine, where the reply carries only the end of the output:
  python3 bench/gpu/summarize-log.py run.log [more.log ...]
"""
import json
import sys

for path in sys.argv[1:]:
    for line in open(path):
        if not line.startswith('{'):
            continue
        r = json.loads(line)
        if 'codec' not in r or 'context' not in r:
            continue
        print(r['codec'], r['shape'], r['context'], r.get('variant'), r.get('split'), r.get('kernel'),
              '%.4f ms' % r.get('ms', 0), 'frac %.2f' % r.get('streamFraction', 0), 'wg', r.get('workgroups'),
              'err', r.get('relErr'), r.get('skipped', ''))
