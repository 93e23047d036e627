#!/usr/bin/python3
"""Search-depth sweep on an index peer_bench.py kept (--keep-work), without rebuilding it.

Starts BIN/tartan-indexer on the kept shard folder, searches the corpus's queries at each
setting (default, or NPROBE/APPROX/EXACT) and prints recall@k (--k, default 10) against the corpus's cached
exact top-100 (written by peer_bench.py), queries per CPU-second of the indexer
(/proc/PID/stat), p50/p99 latency, and the mean wall ms per query of each search stage (the
indexer's tartan_indexer_search_latency_seconds sums, read from its metrics port). Run it for two binaries in turn for an A/B on one index:

  bench/indexer/settings_sweep.py --bin build/bin --index /tmp/sbench/sbench-tartan-XXXX/shard0 \
      --corpus /tmp/sbench/skewed-100000 --stubs /tmp/sbench/sbench-stubs-XXXX default 8/512/128
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np


def stage_sums(metrics_port):
    """{stage: seconds} summed over every search so far, from the indexer's /metrics."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=5).read().decode()
    sums = {}
    for line in text.splitlines():
        if line.startswith("tartan_indexer_search_latency_seconds_sum{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            sums[stage] = float(line.rsplit(" ", 1)[1])
    return sums


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True, help="folder with tartan-indexer")
    p.add_argument("--index", required=True, help="the kept shard folder (peer_bench --keep-work)")
    p.add_argument("--corpus", required=True, help="corpus folder with its exact_top100_q*.npz")
    p.add_argument("--stubs", required=True, help="Python gRPC stubs (peer_bench's sbench-stubs-*)")
    p.add_argument("--indexer-arg", action="append", default=["--rerank_store"])
    p.add_argument("--k", type=int, default=10, help="hits per search; recall@k is reported (k <= 100)")
    p.add_argument("settings", nargs="+", help="default or NPROBE/APPROX/EXACT")
    args = p.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    from tartan.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc

    truth = np.load(sorted(glob.glob(os.path.join(args.corpus, "exact_top100_q*.npz")))[-1])["ids"]
    queries = np.load(os.path.join(args.corpus, "queries.npy"))[:len(truth)]
    work = tempfile.mkdtemp(prefix="sweep-")
    ports = os.path.join(work, "ports")
    log = open(os.path.join(work, "indexer.log"), "w")
    dim = queries.shape[2]
    proc = subprocess.Popen([os.path.join(args.bin, "tartan-indexer"), "--index_dir=" + args.index,
                             "--dim=%d" % dim, "--host=127.0.0.1", "--grpc_port=0", "--metrics_port=0",
                             "--port_file=" + ports] + args.indexer_arg, stdout=log, stderr=subprocess.STDOUT)
    try:
        while not os.path.exists(ports) or os.path.getsize(ports) == 0:
            if proc.poll() is not None:
                sys.exit("tartan-indexer exited; see " + log.name)
            time.sleep(0.1)
        time.sleep(0.1)
        port_numbers = json.load(open(ports))
        stub = indexer_pb2_grpc.IndexerStub(grpc.insecure_channel("127.0.0.1:%d" % port_numbers["grpc_port"]))

        def search(q, params):
            tv = common_pb2.TokenVectors(rows=q.shape[0], dim=q.shape[1], dtype=common_pb2.FLOAT16,
                                         data=np.ascontiguousarray(q, dtype="<f2").tobytes())
            return stub.Search(indexer_pb2.ShardSearchRequest(query=tv, k=args.k, params=params), timeout=120)

        def cpu_seconds():
            fields = open("/proc/%d/stat" % proc.pid).read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        while True:  # serving once recovered
            try:
                stub.Stats(indexer_pb2.StatsRequest(), timeout=5)
                break
            except grpc.RpcError:
                time.sleep(0.2)
        print("%s on %s, %d queries; load %s" % (args.bin, args.index, len(queries),
                                                 open("/proc/loadavg").read().split()[0]))
        for setting in args.settings:
            if setting == "default":
                params = common_pb2.SearchParams()
            else:
                nprobe, approx, exact = (int(v) for v in setting.split("/"))
                params = common_pb2.SearchParams(nprobe=nprobe, candidates_approx=approx,
                                                 candidates_exact=exact)
            for q in queries[:5]:
                search(q, params)  # warm-up
            s0 = stage_sums(port_numbers["metrics_port"])
            c0, latencies, results = cpu_seconds(), [], []
            for q in queries:
                t = time.time()
                reply = search(q, params)
                latencies.append(time.time() - t)
                results.append([int(h.id[3:]) for h in reply.hits])
            cpu = cpu_seconds() - c0
            s1 = stage_sums(port_numbers["metrics_port"])
            stages = "  ".join("%s %.1f" % (k, (s1[k] - s0.get(k, 0)) * 1000 / len(queries))
                               for k in ("candidates", "approx", "rerank") if k in s1)
            k = args.k
            recall = np.mean([len(set(r) & set(t[:k].tolist())) / k for r, t in zip(results, truth)])
            ms = np.array(latencies) * 1000
            print("%-12s recall@%d %.3f  QPS per busy core %.1f  p50/p99 %.1f / %.1f ms  stage ms: %s"
                  % (setting, k, recall, len(queries) / cpu, np.percentile(ms, 50), np.percentile(ms, 99), stages),
                  flush=True)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
