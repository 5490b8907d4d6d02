#!/usr/bin/env python3
"""Checks of the rendered Kubernetes manifests against the node's image (issue #31), run by
.ci/test-deploy.sh after `kubernetes-validate` has checked their schema:

1. Pod Security `restricted`: every pod template runs as non-root with the runtime's seccomp
   profile, and every container drops ALL capabilities, cannot escalate privileges and has a
   read-only root filesystem; the namespace enforces the profile.
2. The probes and the scrape annotations name routes the node serves: for each Deployment, the
   image's own entrypoint runs with the Deployment's arguments (its addresses moved to free
   loopback ports, SQLite in a fresh data dir instead of the Secret's PostgreSQL), and every
   probe is sent as the kubelet sends it (path, port, headers; `Host: POD_IP:PORT` unless the
   probe sets one), expecting 200; /metrics is
   scraped on the annotated port and path with the metrics token.

How the image runs: `podman run` cannot start a container on this VM (crun's setrlimit of
RLIMIT_NOFILE/NPROC is refused with EPERM by the sandbox, whatever --ulimit says). So the image's
root filesystem (`buildah mount`) is bind-mounted read-only in a private mount namespace, the data
directory (owned by 65532) on /var/lib/more and a tmpfs on /tmp, and the image's entrypoint runs
chrooted as the image's user: what `podman run --read-only --user 65532 -v DATA:/var/lib/more`
gives, minus the network namespace (the node binds 127.0.0.1). The running process is checked
to be uid 65532 with a read-only root.

3. The backup image's pg_dump, pg_restore and `more-node backup` start (every library there).

Usage: check_deploy.py RENDERED.yaml IMAGE [BACKUP_IMAGE]   (root for mount namespaces; PyYAML)
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

METRICS_TOKEN = "deploy-check-token"
# The address a kubelet would name in the Host header of a probe that sets none.
POD_IP = "10.244.1.17"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def pod_specs(docs):
    """(kind/name, pod spec, pod template metadata) of every workload."""
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            t = d["spec"]["template"]
        elif kind == "CronJob":
            t = d["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        yield f"{kind}/{name}", t["spec"], t.get("metadata", {})


def check_pod_security(docs):
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    if not namespaces:
        fail("no Namespace")
    for ns in namespaces:
        labels = ns["metadata"].get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            fail(f"namespace {ns['metadata']['name']} does not enforce restricted")
    count = 0
    for what, spec, _ in pod_specs(docs):
        pod = spec.get("securityContext", {})
        if pod.get("runAsNonRoot") is not True:
            fail(f"{what}: runAsNonRoot is not true")
        if pod.get("runAsUser", 1) == 0:
            fail(f"{what}: runAsUser 0")
        if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            fail(f"{what}: seccompProfile is not RuntimeDefault")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                fail(f"{what}: {key}")
        for v in spec.get("volumes", []):
            if "hostPath" in v:
                fail(f"{what}: hostPath volume {v['name']}")
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(f"{what}/{c['name']}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                fail(f"{what}/{c['name']}: readOnlyRootFilesystem is not true")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                fail(f"{what}/{c['name']}: capabilities do not drop ALL")
            if sc.get("capabilities", {}).get("add"):
                fail(f"{what}/{c['name']}: adds capabilities")
            if sc.get("privileged"):
                fail(f"{what}/{c['name']}: privileged")
            count += 1
    if count == 0:
        fail("no containers")
    print(f"pod security restricted: {count} containers checked")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_config(image):
    out = subprocess.run(["buildah", "inspect", "--type", "image", image],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["OCIv1"]["config"]


class Rootfs:
    """The image's root filesystem, mounted by buildah (removed on exit)."""

    def __init__(self, image):
        self.ctr = subprocess.run(["buildah", "from", image], check=True,
                                  capture_output=True, text=True).stdout.strip()
        self.path = subprocess.run(["buildah", "mount", self.ctr], check=True,
                                   capture_output=True, text=True).stdout.strip()

    def close(self):
        subprocess.run(["buildah", "umount", self.ctr], capture_output=True)
        subprocess.run(["buildah", "rm", self.ctr], capture_output=True)


def image_command(rootfs, config, argv, data):
    """`argv` run as the image's user, chrooted in `rootfs` mounted read-only, `data` on
    /var/lib/more, a tmpfs on /tmp, with the image's environment only."""
    user = config.get("User", "")
    uid, _, gid = user.partition(":")
    if not uid or uid == "0":
        fail(f"the image runs as {user!r}, not as a non-root user")
    os.chown(data, int(uid), int(gid or uid))
    os.chmod(data, 0o700)
    r = rootfs
    command = (["env", "-i"] + config.get("Env", [])
               + [shutil.which("chroot"), f"--userspec={uid}:{gid or uid}", r] + argv)
    script = (
        f"mount --bind {r} {r} && mount -o remount,bind,ro {r} && "
        f"mount --bind {data} {r}/var/lib/more && mount -t tmpfs -o mode=1777 tmpfs {r}/tmp && "
        'exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + command


def start_node(rootfs, config, args, data, log):
    """The image's entrypoint with `args`, as the image's user, on a read-only root."""
    return subprocess.Popen(image_command(rootfs, config, config["Entrypoint"] + args, data),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def check_backup_image(image):
    """The backup image's tools start: every library they need is in the image."""
    config = image_config(image)
    pg_bin = next(e.split("=", 1)[1] for e in config.get("Env", []) if e.startswith("MORE_PG_BIN="))
    rootfs = Rootfs(image)
    try:
        with tempfile.TemporaryDirectory(prefix="more-deploy-") as data:
            for argv in ([f"{pg_bin}/pg_dump", "--version"], [f"{pg_bin}/pg_restore", "--version"],
                         config["Entrypoint"] + ["backup", "--help"]):
                out = subprocess.run(image_command(rootfs.path, config, argv, data),
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    fail(f"{image}: {' '.join(argv)} failed: {out.stdout}{out.stderr}")
    finally:
        rootfs.close()
    print(f"{image}: pg_dump, pg_restore and more-node backup start as uid {config['User']}")


def request(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_listening(port, proc, log_path, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            fail(f"the node exited ({proc.returncode}):\n{open(log_path).read()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    fail(f"the node did not listen within {timeout} s")


def check_process(pid, uid):
    status = open(f"/proc/{pid}/status").read()
    uids = next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1:]
    if any(u != str(uid) for u in uids):
        fail(f"the node runs as uids {uids}, not {uid}")
    root = next(l.split() for l in open(f"/proc/{pid}/mounts") if l.split()[1] == "/")
    if "ro" not in root[3].split(","):
        fail(f"the node's root is mounted {root[3]}, not read-only")


def remap(args, ports):
    """The Deployment's arguments with each listener moved to a free loopback port."""
    out = []
    for a in args:
        for flag in ("--bind=", "--metrics-bind="):
            if a.startswith(flag):
                container_port = int(a.rsplit(":", 1)[1])
                a = f"{flag}127.0.0.1:{ports[container_port]}"
        out.append(a)
    return out


def probes(container):
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = container.get(kind)
        if not p:
            continue
        get = p.get("httpGet")
        if not get:
            fail(f"{kind} is not an httpGet probe")
        port = ports.get(get["port"], get["port"])
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
        yield kind, get["path"], int(port), headers


def check_deployment(what, spec, meta, image, rootfs, config):
    container = spec["containers"][0]
    container_ports = [p["containerPort"] for p in container.get("ports", [])]
    ports = {p: free_port() for p in container_ports}
    args = remap(container["args"], ports) + ["--metrics-token", METRICS_TOKEN]
    with tempfile.TemporaryDirectory(prefix="more-deploy-") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        log_path = os.path.join(tmp, "node.log")
        with open(log_path, "w") as log:
            proc = start_node(rootfs.path, config, args, data, log)
        try:
            wait_listening(ports[container_ports[0]], proc, log_path)
            check_process(proc.pid, int(config["User"].split(":")[0]))
            seen = check_probes(what, container, ports)
            check_scrape(what, meta, ports)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{what}: {', '.join(seen)} and /metrics answered by the image, as uid "
          f"{config['User']} on a read-only root")


def check_probes(what, container, ports):
    seen = []
    for kind, path, port, headers in probes(container):
        if port not in ports:
            fail(f"{what}: {kind} names port {port}, which the container does not expose")
        # Without a Host header the kubelet sends the pod's address: a stand-in one here.
        headers = {"Host": f"{POD_IP}:{port}", **headers}
        url = f"http://127.0.0.1:{ports[port]}{path}"
        deadline = time.time() + 30
        status, body = request(url, headers)
        while status != 200 and time.time() < deadline:
            time.sleep(0.2)
            status, body = request(url, headers)
        if status != 200:
            fail(f"{what}: {kind} GET {path} (headers {headers}) answered {status}: {body[:200]!r}")
        seen.append(f"{kind} {path}")
    if not any(k == "livenessProbe" for k, *_ in probes(container)):
        fail(f"{what}: no liveness probe")
    if not any(k == "readinessProbe" for k, *_ in probes(container)):
        fail(f"{what}: no readiness probe")
    return seen


def check_scrape(what, meta, ports):
    ann = meta.get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true":
        fail(f"{what}: no prometheus.io/scrape annotation")
    port = int(ann["prometheus.io/port"])
    if port not in ports:
        fail(f"{what}: the scrape port {port} is not a container port")
    url = f"http://127.0.0.1:{ports[port]}{ann.get('prometheus.io/path', '/metrics')}"
    status, body = request(url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    if status != 200 or b"# TYPE" not in body:
        fail(f"{what}: scrape {url} answered {status}: {body[:200]!r}")


def main():
    rendered, image = sys.argv[1], sys.argv[2]
    backup_image = sys.argv[3] if len(sys.argv) > 3 else None
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    check_pod_security(docs)
    config = image_config(image)
    rootfs = Rootfs(image)
    try:
        for what, spec, meta in pod_specs(docs):
            if what.startswith("Deployment/"):
                check_deployment(what, spec, meta, image, rootfs, config)
    finally:
        rootfs.close()
    if backup_image:
        check_backup_image(backup_image)


if __name__ == "__main__":
    main()
