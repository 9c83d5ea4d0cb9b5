#!/usr/bin/python3
"""promcheck.py - check a Prometheus text exposition (format 0.0.4) on
stdin strictly, then print its samples as one JSON object
{"name{label=\"v\",...}": value} (labels sorted) on stdout.

Checks, each a failure (exit 1, the reason on stderr):
  - every line is a HELP, a TYPE, or a sample; the text ends in a newline;
    no blank line, no trailing space
  - names and label names follow the grammar; label values are quoted,
    with only \\\\, \\" and \\n escapes; values are floats
  - each family has exactly one HELP and one TYPE, both before its
    samples, and its samples are together
  - counters are named *_total; histograms have _bucket samples with
    le, cumulative, ending with le="+Inf" equal to _count, and a _sum
  - no series twice
Then prometheus_client's own parser must read the text too.
"""
import json
import math
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LNAME = r'[a-zA-Z_][a-zA-Z0-9_]*'
LVALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(' + NAME + r')(?:\{((?:' + LNAME + '=' + LVALUE +
                    r')(?:,' + LNAME + '=' + LVALUE + r')*)?\})? (\S+)$')
LABEL = re.compile('(' + LNAME + ')=(' + LVALUE + ')')
HELP = re.compile(r'^# HELP (' + NAME + r') (\S.*)$')
TYPE = re.compile(r'^# TYPE (' + NAME + r') (counter|gauge|histogram|summary|untyped)$')


def fail(msg):
    sys.stderr.write('promcheck: ' + msg + '\n')
    sys.exit(1)


def value(v, line):
    if v in ('+Inf', '-Inf', 'NaN'):
        return float(v.replace('Inf', 'inf').replace('NaN', 'nan'))
    if not re.match(r'^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$', v):
        fail('bad value: ' + line)
    return float(v)


def family_of(name, types):
    if name in types:
        return name
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) == 'histogram':
            return name[:-len(suf)]
    return None


def main():
    text = sys.stdin.read()
    if not text.endswith('\n'):
        fail('no final newline')
    helps, types, done, series = {}, {}, set(), {}
    current = None
    hist = {}
    for line in text[:-1].split('\n'):
        if line == '' or line != line.rstrip():
            fail('blank line or trailing space: %r' % line)
        m = HELP.match(line)
        if m:
            if m.group(1) in helps:
                fail('HELP twice: ' + m.group(1))
            helps[m.group(1)] = m.group(2)
            continue
        m = TYPE.match(line)
        if m:
            n = m.group(1)
            if n in types:
                fail('TYPE twice: ' + n)
            if n not in helps:
                fail('TYPE before HELP: ' + n)
            if m.group(2) == 'counter' and not n.endswith('_total'):
                fail('counter not named _total: ' + n)
            types[n] = m.group(2)
            if current is not None:
                done.add(current)
            current = n
            continue
        if line.startswith('#'):
            fail('stray comment: ' + line)
        m = SAMPLE.match(line)
        if not m:
            fail('not a sample: ' + line)
        name, labels, v = m.group(1), m.group(2) or '', m.group(3)
        fam = family_of(name, types)
        if fam is None:
            fail('sample without TYPE: ' + line)
        if fam != current or fam in done:
            fail('family samples not together: ' + line)
        pairs = LABEL.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            fail('label twice: ' + line)
        key = name + ('{' + ','.join('%s=%s' % p for p in sorted(pairs)) +
                      '}' if pairs else '')
        if key in series:
            fail('series twice: ' + line)
        series[key] = value(v, line)
        if types[fam] == 'histogram':
            rest = tuple(sorted(p for p in pairs if p[0] != 'le'))
            h = hist.setdefault((fam, rest), {'le': [], 'count': None,
                                              'sum': None})
            if name.endswith('_bucket'):
                le = [p[1] for p in pairs if p[0] == 'le']
                if len(le) != 1:
                    fail('bucket without le: ' + line)
                h['le'].append((value(json.loads(le[0]), line),
                                series[key]))
            elif name.endswith('_count'):
                h['count'] = series[key]
            else:
                h['sum'] = series[key]
    for n in helps:
        if n not in types:
            fail('HELP without TYPE: ' + n)
    for (fam, rest), h in hist.items():
        les = [b[0] for b in h['le']]
        if not les or les != sorted(les) or les[-1] != math.inf:
            fail('buckets out of order or without +Inf: %s %s' % (fam, rest))
        counts = [b[1] for b in h['le']]
        if counts != sorted(counts):
            fail('buckets not cumulative: %s %s' % (fam, rest))
        if h['count'] != counts[-1] or h['sum'] is None:
            fail('_count or _sum wrong: %s %s' % (fam, rest))
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        fail('prometheus_client is not installed')
    try:
        parsed = {f.name for f in text_string_to_metric_families(text)}
    except Exception as e:  # noqa: BLE001 - any parse error is the answer
        fail('prometheus_client: %s' % e)
    for n, t in types.items():
        want = n[:-len('_total')] if t == 'counter' else n
        if want not in parsed:
            fail('prometheus_client did not see ' + n)
    json.dump(series, sys.stdout, sort_keys=True)
    sys.stdout.write('\n')


main()
