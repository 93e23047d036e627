#!/usr/bin/python3
"""The container images, built and run with Debian's daemonless tools (label `slow`).

1. Builds the four images with scripts/build-images.sh (buildah, --isolation=chroot, vfs, a
   debootstrap'd bookworm base); layer caching makes a rebuild of an unchanged tree quick.
   TARTAN_IMAGES_REUSE=1 skips the build when all four images exist.
2. Checks each image: OCI labels (revision = this checkout's HEAD), a HEALTHCHECK, only the
   libraries its binary loads (no oneDNN/ICU in the router and indexer images), a non-root
   user, and the binary runs (--help).
3. Starts a cluster from the images with `podman run --network=host` (runc): the test model
   made by `tartanctl make-test-model` from the tokenizer baked into the tartanctl image (no
   ../shared), an encoder, two indexer shards and a router; waits on each image's HEALTHCHECK
   (`podman healthcheck run`); ingests a small corpus and searches it with tartanctl from its
   image; asserts the expected documents rank first, on both shards; stops every container with
   SIGTERM and asserts a clean drain (exit code 0).

Skipped (exit 77) when not root or buildah/podman are missing (scripts/install-image-tools.sh).
Env: TARTAN_IMAGE_TAG (default dev), TARTAN_OCI_RUNTIME (default runc; Debian's crun refuses
cgroup v1/v2 hybrid hosts such as the one this was written on).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TAG = os.environ.get("TARTAN_IMAGE_TAG", "dev")
IMAGES = {
    "encoder": f"localhost/tartan-encoder:{TAG}",
    "indexer": f"localhost/tartan-indexer:{TAG}",
    "router": f"localhost/tartan-router:{TAG}",
    "tartanctl": f"localhost/tartanctl:{TAG}",
}
BINARY = {"encoder": "tartan-encoder", "indexer": "tartan-indexer", "router": "tartan-router",
          "tartanctl": "tartanctl"}
PODMAN = ["podman", "--storage-driver=vfs", "--runtime=" + os.environ.get("TARTAN_OCI_RUNTIME", "runc")]
# Podman's default rlimits for root exceed the hard limits of some sandboxes (no
# CAP_SYS_RESOURCE); these fit a test cluster anywhere.
# (vfs copies the image for every container: runs are few and do several things each.)
RUN = PODMAN + ["run", "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=16384:16384"]
UID = 10001  # the images' user

# Two shards hash ids; six topics make both shards hold documents the searches must find.
CORPUS = [
    ("volcano", "Basaltic lava erupts from the volcano and cools into obsidian and pumice."),
    ("glacier", "The glacier carved a fjord while moraine and meltwater filled the valley."),
    ("orchestra", "The orchestra tuned violins, cellos and oboes before the symphony."),
    ("bakery", "The bakery kneads sourdough and croissants before dawn every morning."),
    ("comet", "A comet with an icy nucleus grew a bright tail near perihelion."),
    ("chess", "The grandmaster sacrificed a bishop and checkmated with a knight fork."),
]
QUERIES = {"obsidian pumice lava": "volcano", "fjord moraine meltwater": "glacier",
           "violins cellos oboes": "orchestra", "sourdough croissants": "bakery",
           "comet nucleus perihelion": "comet", "bishop knight checkmated": "chess"}

failures = []


def check(ok, message):
    print(("ok    " if ok else "FAIL  ") + message, flush=True)
    if not ok:
        failures.append(message)
    return ok


def sh(args, timeout=600, check_rc=True):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check_rc and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_exists(image):
    return sh(PODMAN + ["image", "exists", image], check_rc=False).returncode == 0


def build_images():
    """Returns True when this run built the images (from HEAD)."""
    if os.environ.get("TARTAN_IMAGES_REUSE") == "1" and all(map(image_exists, IMAGES.values())):
        print("reusing the built images (TARTAN_IMAGES_REUSE=1)")
        return False
    start = time.monotonic()
    env = dict(os.environ, TAG=TAG)
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build-images.sh")], env=env,
                            capture_output=True, text=True, timeout=7200)
    if result.returncode != 0:
        print(result.stdout[-8000:], result.stderr[-8000:])
        raise RuntimeError("scripts/build-images.sh failed")
    print(f"scripts/build-images.sh: {time.monotonic() - start:.0f} s")
    return True


def check_image(component, head):
    """head: the commit the images must have been built from, or None when reused (then any
    commit of this repository)."""
    image = IMAGES[component]
    info = json.loads(sh(PODMAN + ["image", "inspect", image]).stdout)[0]
    config = info.get("Config") or {}
    labels = info.get("Labels") or config.get("Labels") or {}
    print(f"{image}: {info['Size'] / 1e6:.0f} MB, version {labels.get('org.opencontainers.image.version')}")
    check(labels.get("org.opencontainers.image.title") == BINARY[component],
          f"{component}: org.opencontainers.image.title")
    revision = labels.get("org.opencontainers.image.revision", "")
    if head:
        check(revision == head, f"{component}: org.opencontainers.image.revision is HEAD ({head[:12]})")
    else:
        known = sh(["git", "-C", ROOT, "cat-file", "-e", revision + "^{commit}"], check_rc=False)
        check(len(revision) == 40 and known.returncode == 0,
              f"{component}: org.opencontainers.image.revision is a commit of this repository ({revision[:12]})")
    for key in ("version", "created", "description"):
        check(bool(labels.get(f"org.opencontainers.image.{key}")), f"{component}: label {key}")
    check(config.get("User") == f"{UID}:{UID}", f"{component}: runs as {UID}")
    health = sh(PODMAN + ["inspect", "--type", "image", "--format", "{{json .HealthCheck}}", image],
                check_rc=False).stdout
    if component == "tartanctl":
        check(health.strip() in ("", "null", "<nil>"), "tartanctl: no HEALTHCHECK (a client)")
    else:
        check("tartan-healthcheck" in health and component in health,
              f"{component}: HEALTHCHECK tartan-healthcheck {component} ({health.strip()})")
    # Libraries present in the image, and what the binary loads.
    help_arg = "help" if component == "tartanctl" else "--help"
    run = sh(RUN + ["--rm", "--network=none", image, "sh", "-c",
                    f"ls /usr/lib/x86_64-linux-gnu; ldd /usr/local/bin/{BINARY[component]}; "
                    f"{BINARY[component]} {help_arg} > /dev/null && echo BINARY-RUNS"], check_rc=False)
    listing = run.stdout
    has_dnnl = "libdnnl.so" in listing
    has_icu = "libicuuc.so" in listing
    if component in ("router", "indexer"):
        check(not has_dnnl and not has_icu, f"{component}: no oneDNN, no ICU in the image")
    if component == "encoder":
        check(has_dnnl and has_icu, "encoder: oneDNN and ICU present (it loads them)")
    check("not found" not in listing, f"{component}: every library its binary loads resolves")
    check(run.returncode == 0 and "BINARY-RUNS" in listing,
          f"{component}: {BINARY[component]} runs from its image")


class Cluster:
    def __init__(self, workdir):
        self.workdir = workdir
        self.names = []
        self.prefix = f"tartan-imgtest-{os.getpid()}"

    def start(self, name, component, env, volumes):
        full = f"{self.prefix}-{name}"
        args = RUN + ["--network=host", "-d", "--name", full]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for volume in volumes:
            args += ["-v", volume]
        sh(args + [IMAGES[component], BINARY[component]])
        self.names.append(full)
        return full

    def wait_healthy(self, name, seconds=180):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if sh(PODMAN + ["healthcheck", "run", name], check_rc=False).returncode == 0:
                return True
            state = sh(PODMAN + ["inspect", "--format", "{{.State.Running}}", name], check_rc=False)
            if state.stdout.strip() != "true":
                break
            time.sleep(0.5)
        print(sh(PODMAN + ["logs", name], check_rc=False).stderr[-4000:])
        return False

    def stop_all(self):
        codes = {}
        for name in reversed(self.names):
            sh(PODMAN + ["stop", "-t", "30", name], check_rc=False, timeout=60)
            code = sh(PODMAN + ["inspect", "--format", "{{.State.ExitCode}}", name], check_rc=False)
            codes[name] = code.stdout.strip()
        return codes

    def remove_all(self):
        for name in self.names:
            sh(PODMAN + ["rm", "-f", name], check_rc=False, timeout=60)


def run_cluster(workdir):
    models, corpus = os.path.join(workdir, "models"), os.path.join(workdir, "corpus")
    shards = [os.path.join(workdir, f"shard{i}") for i in range(2)]
    for d in [models] + shards:
        os.makedirs(d)
        os.chown(d, UID, UID)
    os.makedirs(corpus)
    with open(os.path.join(corpus, "corpus.jsonl"), "w") as f:
        for doc_id, text in CORPUS:
            f.write(json.dumps({"_id": doc_id, "text": text}) + "\n")
    os.chmod(workdir, 0o755)
    os.chmod(corpus, 0o755)

    start = time.monotonic()
    made = sh(RUN + ["--rm", "--network=none", "-v", f"{models}:/models", IMAGES["tartanctl"],
                     "tartanctl", "make-test-model", "--lexical", "--out", "/models/test-model"],
              check_rc=False)
    if not check(made.returncode == 0, "make-test-model from the tartanctl image (baked tokenizer)"):
        print(made.stderr)
        return

    cluster = Cluster(workdir)
    try:
        ports = {name: (free_port(), free_port()) for name in ("encoder", "shard0", "shard1", "router")}
        common = {"TARTAN_HOST": "127.0.0.1", "TARTAN_LOG_LEVEL": "info"}

        def env(name):
            grpc, metrics = ports[name]
            return dict(common, TARTAN_GRPC_PORT=grpc, TARTAN_METRICS_PORT=metrics)

        encoder = cluster.start("encoder", "encoder",
                                dict(env("encoder"), TARTAN_MODEL="/models/test-model", TARTAN_THREADS=2),
                                [f"{models}:/models:ro"])
        indexers = []
        for i in range(2):
            indexers.append(cluster.start(
                f"shard{i}", "indexer",
                dict(env(f"shard{i}"), TARTAN_INDEX_DIR="/var/lib/tartan/shard",
                     TARTAN_SHARD_NAME=f"shard{i}", TARTAN_DIM=128),
                [f"{shards[i]}:/var/lib/tartan/shard"]))
        for name in [encoder] + indexers:
            check(cluster.wait_healthy(name), f"{name}: HEALTHCHECK passes")
        shard_list = ",".join(f"127.0.0.1:{ports[f'shard{i}'][0]}" for i in range(2))
        router = cluster.start("router", "router",
                               dict(env("router"), TARTAN_ENCODER=f"127.0.0.1:{ports['encoder'][0]}",
                                    TARTAN_SHARDS=shard_list), [])
        check(cluster.wait_healthy(router), f"{router}: HEALTHCHECK passes")
        print(f"cluster up from the images in {time.monotonic() - start:.1f} s")

        address = f"127.0.0.1:{ports['router'][0]}"
        # One client container: ingest, then status and every search, one JSON reply per line.
        script = "set -e; tartanctl ingest --input /work/corpus.jsonl --batch-size 4; echo INGESTED; "
        script += "tartanctl status --json; "
        script += "; ".join(f"tartanctl search --query '{q}' --k 3 --json" for q in QUERIES)
        client = sh(RUN + ["--network=host", "--rm", "-e", f"TARTAN_ROUTER={address}", "-e", "HOME=/tmp",
                           "-v", f"{corpus}:/work:ro", IMAGES["tartanctl"], "sh", "-c", script],
                    check_rc=False, timeout=600)
        lines = [line for line in client.stdout.splitlines() if line.startswith("{")]
        if not check(client.returncode == 0 and "INGESTED" in client.stdout and len(lines) == 1 + len(QUERIES),
                     "tartanctl ingest, status and searches from the tartanctl image"):
            print(client.stdout, client.stderr)
            return
        report = json.loads(lines[0])
        check(report["documents"] == len(CORPUS), f"{len(CORPUS)} documents in the cluster")
        per_shard = [s["documents"] for s in report["shards"]]
        check(len(per_shard) == 2 and all(n > 0 for n in per_shard),
              f"both shards hold documents ({per_shard})")
        check(report["encoder_healthy"], "encoder healthy in the router's view")
        shards_seen = set()
        for (query, expected), line in zip(QUERIES.items(), lines[1:]):
            reply = json.loads(line)
            hits = reply["hits"]
            check(not reply["partial"] and hits and hits[0]["id"] == expected,
                  f"search '{query}' ranks {expected} first ({[h['id'] for h in hits]})")
            if hits:
                shards_seen.add(hits[0]["shard"])
        check(len(shards_seen) == 2, f"top hits came from both shards ({sorted(shards_seen)})")
        print(f"ingest + {len(QUERIES)} searches done {time.monotonic() - start:.1f} s after start")
    finally:
        codes = cluster.stop_all()
        for name, code in codes.items():
            check(code == "0", f"{name}: drained and exited 0 on SIGTERM (exit {code})")
        cluster.remove_all()


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (buildah --isolation=chroot, podman with runc)")
        return SKIP
    missing = [t for t in ("buildah", "podman", "debootstrap", "runc") if not shutil.which(t)]
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed (scripts/install-image-tools.sh)")
        return SKIP
    begin = time.monotonic()
    head = sh(["git", "-C", ROOT, "rev-parse", "HEAD"]).stdout.strip()  # what the build archives
    if not build_images():
        head = None
    for component in IMAGES:
        check_image(component, head)
    workdir = tempfile.mkdtemp(prefix="tartan-images-", dir="/var/tmp")
    try:
        run_cluster(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"total {time.monotonic() - begin:.0f} s")
    total = len(failures)
    print(f"images_test: {'FAILED' if total else 'passed'} ({total} failed checks)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
