#!/usr/bin/python3
"""Measures the figures README's "Deploy > Sizing" quotes, on real processes:

- RAM and disk per million token vectors at --nbits 2 and 4: SciFact ingested through a router
  into one shard per nbits, every shard flushed (Indexer.Flush) so that all vectors sit in
  compressed segments, then Indexer.Stats (bytes_in_ram, bytes_on_disk, token_vectors), the
  shard's process RSS (process_resident_memory_bytes on /metrics, after a few searches) and
  `du` of its index folder.
- Encoder CPU seconds per thousand document tokens: the encoder process's CPU time
  (/proc/PID/stat) over tartan_encoder_tokens_total on its /metrics, across the ingest. For the lexical
  test model (2 layers, hidden 256) and for a random-weight ModernBERT-base-shaped checkpoint
  (`make-test-model --shape modernbert-base`: the compute of GTE-ModernColBERT-v1) at each
  --precision given.

Usage (binaries from the images: scripts/build-images.sh, then see docker/README.md):
  docker/measure-sizing.py --bin-dir DIR [--data-dir ../shared/data] [--base-docs 120]
Prints a JSON summary on stdout and the steps on stderr.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def generate_stubs(out_dir):
    from grpc_tools import protoc
    protos = [os.path.join(ROOT, "proto", "tartan", "v1", n)
              for n in ("common.proto", "encoder.proto", "indexer.proto", "router.proto")]
    if protoc.main(["protoc", "-I" + os.path.join(ROOT, "proto"), "--python_out=" + out_dir,
                    "--grpc_python_out=" + out_dir] + protos) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    for package in ("tartan", os.path.join("tartan", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)


class Service:
    def __init__(self, bin_dir, binary, name, args, work):
        self.name = name
        self.port_file = os.path.join(work, f"{name}.port")
        self.log_path = os.path.join(work, f"{name}.log")
        self.metrics_port = None
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, binary), "--host=127.0.0.1", "--grpc_port=0", "--metrics_port=0",
             f"--port_file={self.port_file}"] + args,
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                ports = json.load(open(self.port_file))
                self.port, self.metrics_port = ports["grpc_port"], ports["metrics_port"]
                if self.serving():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start:\n{open(self.log_path).read()[-3000:]}")

    def metrics(self):
        if self.metrics_port is None:
            return None
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read()
        except OSError:
            return None
        values = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    def metric(self, prefix):
        return sum(v for k, v in (self.metrics() or {}).items() if k == prefix or k.startswith(prefix + "{"))

    def cpu_seconds(self):
        # utime + stime of the process (fields 14 and 15 of /proc/PID/stat, in clock ticks).
        fields = open(f"/proc/{self.proc.pid}/stat").read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def serving(self):
        values = self.metrics() or {}
        return any(k.startswith("tartan_") and "_lifecycle_state" in k and v == 2 for k, v in values.items())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ingest(bin_dir, router, corpus, limit=None, batch_size=32):
    args = [os.path.join(bin_dir, "tartanctl"), "ingest", "--router", f"127.0.0.1:{router.port}",
            "--input", corpus, "--restart", "--checkpoint", corpus + f".{router.name}.ckpt",
            "--batch-size", str(batch_size), "--timeout", "600"]
    if limit:
        args += ["--limit", str(limit)]
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"tartanctl ingest through {router.name} failed:\n{done.stderr[-3000:]}")


def encoder_cost(bin_dir, encoder, router, corpus, limit=None, batch_size=32):
    cpu0, tokens0 = encoder.cpu_seconds(), encoder.metric("tartan_encoder_tokens_total")
    start = time.monotonic()
    ingest(bin_dir, router, corpus, limit, batch_size)
    wall = time.monotonic() - start
    cpu = encoder.cpu_seconds() - cpu0
    tokens = encoder.metric("tartan_encoder_tokens_total") - tokens0
    return {"tokens": int(tokens), "encoder_cpu_s": round(cpu, 2), "wall_s": round(wall, 1),
            "cpu_s_per_1k_tokens": round(1000 * cpu / tokens, 4) if tokens else None}


def flush_and_stats(shard, pb, stub_cls, grpc):
    stub = stub_cls(grpc.insecure_channel(f"127.0.0.1:{shard.port}"))
    stub.Flush(pb.FlushRequest(), timeout=600)
    deadline = time.monotonic() + 600
    while True:
        stats = stub.Stats(pb.StatsRequest(), timeout=30)
        busy = stats.flush_running or stats.compaction_running or stats.retrain_running
        if stats.unflushed_tokens == 0 and not busy:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"{shard.name}: flush did not finish")
        time.sleep(0.5)


def du_bytes(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--base-docs", type=int, default=120, help="documents for the base-shaped encoder run")
    parser.add_argument("--base-precisions", default="fp32,auto")
    parser.add_argument("--docs", type=int, default=0, help="SciFact documents for the shards (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    work = tempfile.mkdtemp(prefix="tartan-sizing-", dir="/var/tmp")
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs)
    generate_stubs(stubs)
    import grpc
    from tartan.v1 import indexer_pb2 as pb, indexer_pb2_grpc as pbg

    scifact = os.path.join(args.data_dir, "scifact-beir")
    corpus = os.path.join(work, "corpus.jsonl")
    # BEIR's corpus.jsonl, or the parts shared/data splits it into.
    parts = ["corpus.jsonl"] if os.path.exists(os.path.join(scifact, "corpus.jsonl")) else sorted(
        p for p in os.listdir(scifact) if p.startswith("corpus.part") and p.endswith(".jsonl"))
    with open(corpus, "w") as out:
        for part in parts:
            out.write(open(os.path.join(scifact, part)).read())
    tokenizer = os.path.join(args.data_dir, "modernbert-tokenizer")
    tartanctl = os.path.join(bin_dir, "tartanctl")
    services = []
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "shards": {}, "encoder": {}}
    try:
        lexical = os.path.join(work, "lexical")
        subprocess.run([tartanctl, "make-test-model", "--lexical", "--out", lexical, "--vocab-from", tokenizer],
                       check=True, stderr=subprocess.DEVNULL)
        encoder = Service(bin_dir, "tartan-encoder", "encoder-lexical",
                          [f"--model={lexical}", f"--threads={args.threads}"], work)
        services.append(encoder)
        shards = {}
        for nbits in (2, 4):
            index_dir = os.path.join(work, f"shard-nbits{nbits}")
            shard = Service(bin_dir, "tartan-indexer", f"shard-nbits{nbits}",
                            [f"--index_dir={index_dir}", "--dim=128", f"--nbits={nbits}",
                             f"--shard_name=nbits{nbits}"], work)
            services.append(shard)
            rss_empty = shard.metric("process_resident_memory_bytes")
            router = Service(bin_dir, "tartan-router", f"router-nbits{nbits}",
                             [f"--encoder=127.0.0.1:{encoder.port}", f"--shards=127.0.0.1:{shard.port}"], work)
            services.append(router)
            log(f"ingest SciFact through {router.name}")
            cost = encoder_cost(bin_dir, encoder, router, corpus, args.docs)
            result["encoder"].setdefault("lexical", cost)
            stats = flush_and_stats(shard, pb, pbg.IndexerStub, grpc)
            for query in ("vitamin D deficiency", "stem cell differentiation", "tumor suppressor gene",
                          "insulin resistance obesity", "antibiotic resistance bacteria"):
                subprocess.run([tartanctl, "search", "--router", f"127.0.0.1:{router.port}", "--query", query],
                               check=True, stdout=subprocess.DEVNULL)
            millions = stats.token_vectors / 1e6
            shards[nbits] = {
                "documents": stats.documents, "token_vectors": stats.token_vectors,
                "segments": stats.segments, "bytes_on_disk": stats.bytes_on_disk,
                "bytes_in_ram": stats.bytes_in_ram, "du_bytes": du_bytes(index_dir),
                "rss_bytes": int(shard.metric("process_resident_memory_bytes")),
                "rss_empty_bytes": int(rss_empty),
                "disk_mb_per_million": round(stats.bytes_on_disk / millions / 1e6, 1),
                "du_mb_per_million": round(du_bytes(index_dir) / millions / 1e6, 1),
                "ram_mb_per_million": round(stats.bytes_in_ram / millions / 1e6, 1),
                "rss_growth_mb_per_million": round(
                    (shard.metric("process_resident_memory_bytes") - rss_empty) / millions / 1e6, 1),
            }
            log(f"nbits {nbits}: {json.dumps(shards[nbits])}")
        result["shards"] = shards
        for s in services:
            s.stop()
        services = []

        base = os.path.join(work, "base")
        subprocess.run([tartanctl, "make-test-model", "--shape", "modernbert-base", "--out", base,
                        "--vocab-from", tokenizer], check=True, stderr=subprocess.DEVNULL)
        for precision in args.base_precisions.split(","):
            encoder = Service(bin_dir, "tartan-encoder", f"encoder-base-{precision}",
                              [f"--model={base}", f"--threads={args.threads}", f"--precision={precision}"], work)
            shard = Service(bin_dir, "tartan-indexer", f"shard-base-{precision}",
                            [f"--index_dir={os.path.join(work, 'shard-base-' + precision)}", "--dim=128"], work)
            # A full-size model on 2 shared cores: small batches, long deadlines.
            router = Service(bin_dir, "tartan-router", f"router-base-{precision}",
                             [f"--encoder=127.0.0.1:{encoder.port}", f"--shards=127.0.0.1:{shard.port}",
                              "--default_timeout_s=600"], work)
            services = [encoder, shard, router]
            info = [k for k in (encoder.metrics() or {}) if k.startswith("tartan_encoder_info")]
            log(f"base-shaped encoder, --precision={precision}: {info}")
            cost = encoder_cost(bin_dir, encoder, router, corpus, args.base_docs, batch_size=4)
            cost["info"] = info
            result["encoder"][f"modernbert-base/{precision}"] = cost
            log(f"  {json.dumps(cost)}")
            for s in services:
                s.stop()
            services = []
    finally:
        for s in services:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
