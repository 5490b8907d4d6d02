#!/usr/bin/env python3
"""Memory of issue #27 scenarios 2 and 3 against a more-node binary (RSS before, during, after).

Usage: python3 compute-node/examples/memory_check.py target/release/more-node [serve options...]
Scenario 2: 8 connections each send 59 MiB of a 60 MiB predict body and stall. Scenario 3: 4
concurrent GET weights of an untrained 40 M-parameter model. Loopback only; the node is stopped
by PID at the end. Results: BENCHMARKS.md, "Compute node: memory and audit cost under hostile
requests".
"""
import json, os, socket, subprocess, sys, tempfile, threading, time, urllib.request, struct
BIN = sys.argv[1]
EXTRA = sys.argv[2:]
def rss(pid):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS:'): return int(l.split()[1]) / 1024
def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
d = tempfile.mkdtemp()
port = free_port()
node = subprocess.Popen([BIN, 'serve', '--data-dir', d, '--bind', f'127.0.0.1:{port}', '--insecure-no-auth', '--web-dir', d + '/no-web'] + EXTRA,
                        stdout=open(d + '/log', 'w'), stderr=subprocess.STDOUT)
base = f'http://127.0.0.1:{port}'
def call(method, path, body=None, ctype='application/json'):
    req = urllib.request.Request(base + path, data=body, method=method, headers={'content-type': ctype})
    try:
        with urllib.request.urlopen(req, timeout=600) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
for _ in range(100):
    try:
        if call('GET', '/v1/health')[0] == 200: break
    except Exception: time.sleep(0.1)
pid = node.pid
time.sleep(1)
print(f'idle RSS {rss(pid):.0f} MiB')
# Scenario 2: 8 connections each sending 59 MiB of a 60 MiB predict body, then stopping.
s, m = call('POST', '/v1/models', json.dumps({'name': 'wide', 'spec': {'input_shape': [4000], 'layers': [{'type': 'dense', 'units': 2}]}}).encode())
model = json.loads(m)['id']
conns = []
def stall(i):
    c = socket.create_connection(('127.0.0.1', port))
    c.sendall(f'POST /v1/models/{model}/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\nContent-Length: {60 << 20}\r\n\r\n'.encode())
    chunk = b'\0' * (1 << 20)
    c.settimeout(30)
    sent = 0
    try:
        for _ in range(59):
            c.sendall(chunk); sent += 1
    except Exception as e:
        pass
    conns.append((c, sent))
t0 = time.time()
ths = [threading.Thread(target=stall, args=(i,)) for i in range(8)]
for t in ths: t.start()
peak = 0
while any(t.is_alive() for t in ths):
    peak = max(peak, rss(pid)); time.sleep(0.2)
time.sleep(2); peak = max(peak, rss(pid))
print(f'scenario 2: 8 x 59 MiB of 60 MiB sent ({sorted(s for _, s in conns)} MiB accepted per connection): RSS peak {peak:.0f} MiB, after sending {rss(pid):.0f} MiB')
answers = []
for c, _ in conns:
    c.settimeout(0.5)
    try: answers.append(c.recv(200).split(b'\r\n')[0].decode())
    except Exception: answers.append('(no answer yet)')
print('  answers while stalled:', answers)
for c, _ in conns: c.close()
time.sleep(12)
print(f'  after the 8 connections closed (12 s): RSS {rss(pid):.0f} MiB')
# Scenario 3: an untrained 40 M-parameter model, 4 concurrent GET weights.
t = time.time()
s, m = call('POST', '/v1/models', json.dumps({'name': 'big', 'spec': {'input_shape': [4000], 'layers': [{'type': 'dense', 'units': 10000}]}}).encode())
m = json.loads(m); print(f'scenario 3: create 40 M-parameter model: {s} in {time.time()-t:.1f} s, parameters {m.get("parameters")}')
time.sleep(12)  # mimalloc gives the creation's transient back within ~8 s
before = rss(pid)
peak = before
out = []
def get():
    out.append(call('GET', f'/v1/models/{m["id"]}/weights'))
ths = [threading.Thread(target=get) for _ in range(4)]
t = time.time()
for x in ths: x.start()
while any(x.is_alive() for x in ths):
    peak = max(peak, rss(pid)); time.sleep(0.05)
dt = time.time() - t
print(f'  4 concurrent GET weights: {[o[0] for o in out]}, {len(out[0][1]) >> 20} MiB each, {dt:.1f} s; RSS before {before:.0f} MiB, peak {peak:.0f} MiB, after {rss(pid):.0f} MiB')
print(f'  identical bodies: {len(set(o[1] for o in out)) == 1}')
node.terminate(); node.wait()
