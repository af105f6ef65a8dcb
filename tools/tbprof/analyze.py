#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Per-frame instructions by function, tun.ko against rtun, from a
tools/tbprof/profile.sh directory: (long run - short run) / (frames in the long
run - frames in the short one), frames being ndo_start_xmit entries (write()
entries on the write paths).

    tools/tbprof/analyze.py OUTDIR [THRESHOLD]

Prints the total per frame (and per vCPU), each driver's own code and the core
functions it calls that differ between the two, then every function whose
per-frame count is above THRESHOLD (default 3) on either driver, sorted by
rtun - tun, with calls per frame for the functions entered that often."""
import bisect
import collections
import sys

# A frame is an ndo_start_xmit entry, or for the write paths a write().
XMIT = {'tun_net_xmit [tun]', 'rtun_ndo_start_xmit [rtun]'}
WRITE = {'tun_chr_write_iter [tun]', 'rtun_file_write [rtun]'}


def symbols(d):
    syms = []
    for line in open(f'{d}/System.map'):
        a, t, n = line.split()[:3]
        if t in 'tTwW':
            syms.append((int(a, 16), n))
    inside = False
    for line in open(f'{d}/log', errors='replace'):
        line = line.strip()
        if line == 'KSYMS-BEGIN':
            inside = True
        elif line == 'KSYMS-END':
            break
        elif inside:
            p = line.split()
            if len(p) >= 4 and p[1] in 'tT':
                syms.append((int(p[0], 16), f'{p[2]} {p[3]}'))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def load(path, addrs, names):
    """(instructions by (function, vcpu), entries by function) of one phase."""
    insns = collections.Counter()
    calls = collections.Counter()
    starts = dict(zip(addrs, names))
    for line in open(path):
        v, n, c0, c1 = line.split()
        v, n, c = int(v, 16), int(n), (int(c0), int(c1))
        if v < 0xffff800000000000:
            name = 'USER'
        else:
            i = bisect.bisect_right(addrs, v) - 1
            name = names[i] if i >= 0 else '?'
        insns[(name, 0)] += n * c[0]
        insns[(name, 1)] += n * c[1]
        if v in starts:
            calls[starts[v]] += c[0] + c[1]
    return insns, calls


def per_frame(d, a, b, addrs, names):
    ia, ca = load(f'{d}/tb.{a}', addrs, names)
    ib, cb = load(f'{d}/tb.{b}', addrs, names)
    frames = sum(cb[x] for x in XMIT) - sum(ca[x] for x in XMIT)
    if frames <= 0:
        frames = sum(cb[x] for x in WRITE) - sum(ca[x] for x in WRITE)
    if frames <= 0:
        sys.exit(f'no frames between tb.{a} and tb.{b}')
    insns = {k: (ib[k] - ia[k]) / frames for k in set(ia) | set(ib)}
    calls = {k: (cb[k] - ca[k]) / frames for k in set(ca) | set(cb)}
    return insns, calls, frames


def main():
    d = sys.argv[1]
    thr = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    addrs, names = symbols(d)
    first = open(f'{d}/order').read().split()[0]
    runs = {first: (1, 2), ('rtun' if first == 'tun' else 'tun'): (3, 4)}
    res = {drv: per_frame(d, *runs[drv], addrs, names) for drv in ('tun', 'rtun')}
    print(f'{first} ran first; frames counted: tun {res["tun"][2]}, rtun {res["rtun"][2]}')
    fn = {}
    for drv, (insns, _, _) in res.items():
        tot = [sum(v for (n, c), v in insns.items() if c == cpu) for cpu in (0, 1)]
        print(f'{drv:5} {sum(tot):9.0f} instructions per frame (vCPU0 {tot[0]:.0f}, vCPU1 {tot[1]:.0f})')
        f = collections.Counter()
        for (n, _), v in insns.items():
            f[n] += v
        fn[drv] = f
    own = {drv: sum(v for n, v in fn[drv].items() if n.endswith(f'[{drv}]')) for drv in fn}
    print(f'own code: tun {own["tun"]:.0f}, rtun {own["rtun"]:.0f}')
    rows = []
    for n in set(fn['tun']) | set(fn['rtun']):
        t, r = fn['tun'][n], fn['rtun'][n]
        if abs(t) > thr or abs(r) > thr:
            rows.append((r - t, n, t, r))
    rows.sort()
    ct, cr = res['tun'][1], res['rtun'][1]
    print(f'{"tun":>9} {"rtun":>9} {"rtun-tun":>9}  {"calls":>11}  function')
    for diff, n, t, r in rows:
        calls = f'{ct.get(n, 0):5.2f}/{cr.get(n, 0):5.2f}' if max(ct.get(n, 0), cr.get(n, 0)) >= 0.05 else ''
        print(f'{t:9.1f} {r:9.1f} {diff:9.1f}  {calls:>11}  {n}')


if __name__ == '__main__':
    main()
