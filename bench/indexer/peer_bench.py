#!/usr/bin/python3
"""Search vs peers, side by side on the same vectors and queries (issue 11).

Engines, all given the corpus's fp16 token vectors (what the wire carries as FLOAT16):
  exact   numpy brute-force MaxSim over fp32 copies of the vectors (one BLAS GEMM per block,
          then max per document): the ground truth of every recall figure, and a baseline
          timed on one thread.
  faiss   IVF-PQ over token vectors (Debian python3-faiss): each query token's k' nearest
          tokens give candidate documents, re-scored by exact MaxSim on the fp16 vectors (the
          "IVF-PQ + exact rerank" peer). Built on --build-threads, searched on one thread,
          queries one at a time, Python overhead included.
  tartan  a real tartan-indexer on 127.0.0.1 through its gRPC Indexer API from this client:
          ingested with UpsertStream, then searched as ingested (background flushes only),
          after Flush and after Compact; one client, queries one at a time.
  router2 (--router) tartan-router over two tartan-indexer shards: ingested and searched
          through the Router API; the shards are flushed and compacted through their own API.

Per setting: recall@10 and @100 vs exact; QPS with one client; QPS per busy core = queries /
CPU seconds of the processes doing the search (indexers and router, from /proc/PID/stat, for
Tartan; this process for faiss and exact); p50/p99 latency seen by the client; bytes per token;
RSS per million tokens; build time per million tokens.

A corpus is a directory written by corpus_dump (synthetic) or scifact_vectors.py:
doc_vectors.npy <f2 [tokens, dim], doc_offsets.npy <i8 [docs+1], queries.npy <f2 [nq, qt, dim]
(or [query tokens, dim] with query_offsets.npy <i8 [nq+1]). The exact top-100 is cached there.

  bench/indexer/peer_bench.py --bin build-sbench/bin --corpus /tmp/sbench/structured-20000 \\
      --json-out /tmp/sbench/results.json
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1 << 20


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------- corpus and ground truth

class Corpus:
    def __init__(self, path, max_queries):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        # fp16, mapped: the page cache holds it, so a 300k corpus (7.7 GB) does not count
        # against the memory the indexer under test may use.
        self.vectors = np.load(os.path.join(path, "doc_vectors.npy"), mmap_mode="r")
        self.offsets = np.load(os.path.join(path, "doc_offsets.npy")).astype(np.int64)
        self.dim = self.vectors.shape[1]
        self.num_docs = len(self.offsets) - 1
        self.num_tokens = int(self.offsets[-1])
        q = np.load(os.path.join(path, "queries.npy"))
        qoff_path = os.path.join(path, "query_offsets.npy")
        if os.path.exists(qoff_path):
            qoff = np.load(qoff_path).astype(np.int64)
            queries = [q[qoff[i]:qoff[i + 1]] for i in range(len(qoff) - 1)]
        else:
            queries = [q[i] for i in range(q.shape[0])]
        self.queries = [np.ascontiguousarray(x, dtype=np.float16) for x in queries[:max_queries]]
        self.ids = None  # Tartan ids: "doc<i>" unless ids.json lists them
        ids_path = os.path.join(path, "ids.json")
        if os.path.exists(ids_path):
            with open(ids_path) as f:
                self.ids = json.load(f)
        self.number_of = {d: i for i, d in enumerate(self.ids)} if self.ids else None
        self.vectors32 = None

    def doc_id(self, i):
        return self.ids[i] if self.ids else "doc%d" % i

    def doc_number(self, doc_id):
        return self.number_of[doc_id] if self.number_of else int(doc_id[3:])

    def fp32(self):
        """fp32 copy of every vector (what numpy brute force multiplies)."""
        if self.vectors32 is None:
            self.vectors32 = self.vectors.astype(np.float32)
        return self.vectors32


def blas_set_threads(n):
    """openblas_set_num_threads on every OpenBLAS loaded: numpy's libblas.so.3 and faiss's
    libopenblas.so.0 are separate copies on Debian, each with its own thread pool."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line and ".so" in line}
    for lib in sorted(libs):
        try:
            getattr(ctypes.CDLL(lib), "openblas_set_num_threads")(n)
        except (OSError, AttributeError):
            continue


def doc_blocks(offsets, block_tokens):
    """(first doc, end doc) blocks of whole documents of about block_tokens tokens."""
    n = len(offsets) - 1
    d0 = 0
    while d0 < n:
        d1 = int(np.searchsorted(offsets, offsets[d0] + block_tokens, side="right")) - 1
        d1 = min(max(d1, d0 + 1), n)
        yield d0, d1
        d0 = d1


def merge_topk(best_s, best_i, scores, ids, k):
    s = np.concatenate([best_s, scores])
    i = np.concatenate([best_i, ids])
    top = np.argpartition(-s, k - 1)[:k] if len(s) > k else np.arange(len(s))
    return s[top], i[top]


def exact_topk(corpus, k=100, block_tokens=1 << 16):
    """Exact MaxSim top-k document numbers and scores for every query (cached on disk)."""
    nq = len(corpus.queries)
    cache = os.path.join(corpus.path, "exact_top%d_q%d.npz" % (k, nq))
    if os.path.exists(cache):
        z = np.load(cache)
        return z["ids"], z["scores"]
    # The queries are always the corpus's first nq, each with its own ground truth: a cache of
    # more queries holds these in its first nq rows.
    for name in sorted(os.listdir(corpus.path)):
        prefix = "exact_top%d_q" % k
        if name.startswith(prefix) and name.endswith(".npz") and name[len(prefix):-4].isdigit() \
                and int(name[len(prefix):-4]) > nq:
            z = np.load(os.path.join(corpus.path, name))
            return z["ids"][:nq], z["scores"][:nq]
    t0 = time.time()
    x = corpus.vectors  # fp16; each block is widened on its own (an fp32 copy of 300k docs is 15 GB)
    # Equal-length queries are stacked 16 at a time: one GEMM per block of documents.
    if len({len(q) for q in corpus.queries}) == 1:
        groups = [list(range(a, min(a + 16, nq))) for a in range(0, nq, 16)]
    else:
        groups = [[i] for i in range(nq)]
    stacks = [np.concatenate([corpus.queries[i] for i in g]).astype(np.float32) for g in groups]
    best = [(np.full(0, -np.inf, np.float32), np.full(0, -1, np.int64)) for _ in range(nq)]
    off = corpus.offsets
    for d0, d1 in doc_blocks(off, block_tokens):
        block = x[off[d0]:off[d1]].astype(np.float32)
        starts = off[d0:d1] - off[d0]
        docs = np.arange(d0, d1)
        for g, qs in zip(groups, stacks):
            m = np.maximum.reduceat(block @ qs.T, starts, axis=0)  # [docs, tokens of g]
            col = 0
            for qi in g:
                qt = len(corpus.queries[qi])
                scores = m[:, col:col + qt].sum(axis=1)
                col += qt
                best[qi] = merge_topk(best[qi][0], best[qi][1], scores, docs, k)
    ids = np.zeros((nq, k), np.int64)
    scores = np.zeros((nq, k), np.float32)
    for qi, (s, i) in enumerate(best):
        order = np.lexsort((i, -s))
        ids[qi], scores[qi] = i[order], s[order]
    np.savez(cache, ids=ids, scores=scores)
    log("  exact top-%d of %d queries computed in %.1f s (cached in %s)" % (k, nq, time.time() - t0, cache))
    return ids, scores


def recall(results, truth, k):
    """Mean |top-k ∩ exact top-k| / k; results: per query, document numbers best first."""
    return float(np.mean([len(set(r[:k]) & set(t[:k].tolist())) / k for r, t in zip(results, truth)]))


def latency_stats(latencies):
    a = np.array(latencies) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def self_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- exact (numpy) baseline

def run_exact(corpus, truth, timed_queries):
    """Brute force on one BLAS thread over the fp32 copy; recall is 1 by definition."""
    x = corpus.fp32()
    off = corpus.offsets
    blas_set_threads(1)
    lat = []
    c0 = time.process_time()
    for q in corpus.queries[:timed_queries]:
        t = time.perf_counter()
        q32 = q.astype(np.float32)
        scores = np.concatenate([np.maximum.reduceat(x[off[d0]:off[d1]] @ q32.T, off[d0:d1] - off[d0], axis=0).sum(1)
                                 for d0, d1 in doc_blocks(off, 1 << 16)])
        np.argpartition(-scores, 99)[:100]
        lat.append(time.perf_counter() - t)
    cpu = time.process_time() - c0
    blas_set_threads(os.cpu_count())
    p50, p99 = latency_stats(lat)
    return [{
        "engine": "exact (numpy BLAS, 1 thread)", "setting": "fp32 brute force", "state": "-",
        "recall10": 1.0, "recall100": 1.0, "queries": len(lat),
        "qps": len(lat) / sum(lat), "qps_per_core": len(lat) / cpu, "busy_cores": cpu / sum(lat),
        "p50_ms": p50, "p99_ms": p99,
        "bytes_per_token": 4.0 * corpus.dim, "bytes_note": "fp32 vectors",
        "rss_mb_per_mtok": x.nbytes / MB / (corpus.num_tokens / 1e6), "build_s_per_mtok": 0.0,
        "build_cpu_s_per_mtok": 0.0,
    }]


# ---------------------------------------------------------------- faiss IVF-PQ + exact rerank

def rerank(corpus, q32, docs, k):
    """Exact MaxSim of q32 over `docs` (sorted document numbers) on the fp16 vectors."""
    off = corpus.offsets
    starts = off[docs]
    lens = off[docs + 1] - starts
    ends = np.cumsum(lens)
    rows = np.arange(ends[-1]) - np.repeat(ends - lens, lens) + np.repeat(starts, lens)
    x = corpus.vectors[rows].astype(np.float32)
    scores = np.maximum.reduceat(x @ q32.T, ends - lens, axis=0).sum(axis=1)
    top = np.argsort(-scores, kind="stable")[:k]
    return docs[top]


def run_faiss(corpus, truth, args):
    import faiss
    n, dim = corpus.num_tokens, corpus.dim
    # Tartan's own rule, 2^floor(log2(16 sqrt(tokens))), gives 16,384 lists at 2M tokens: a
    # k-means and an assignment too slow for a shared 2-core machine, so 4,096 at most by default.
    nlist = args.faiss_nlist or min(4096, 1 << int(np.floor(np.log2(16 * np.sqrt(n)))))
    # Threads come from BLAS (k-means and list assignment are GEMMs), not OpenMP: OpenMP threads
    # calling the pthreads OpenBLAS Debian ships oversubscribe the cores and crawl.
    faiss.omp_set_num_threads(1)
    blas_set_threads(args.build_threads)
    rss0 = self_rss()
    # The index depends only on the corpus and these settings: built once, cached beside it.
    key = "faiss_IVF%d_PQ%d_it%d_s%d" % (nlist, args.faiss_m, args.kmeans_iterations, args.kmeans_sample_per_centroid)
    cache = os.path.join(corpus.path, key + ".index")
    if os.path.exists(cache) and os.path.exists(cache + ".json"):
        index = faiss.read_index(cache)
        with open(cache + ".json") as f:
            build_s, build_cpu = json.load(f)
        log("  faiss index read from %s (built in %.1f s, %.1f CPU s)" % (cache, build_s, build_cpu))
    else:
        t0, c0 = time.time(), time.process_time()
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, args.faiss_m, 8, faiss.METRIC_INNER_PRODUCT)
        # The same k-means budget as Tartan's defaults: 16 training vectors per list, 6 rounds.
        index.cp.niter = args.kmeans_iterations
        index.cp.max_points_per_centroid = args.kmeans_sample_per_centroid
        n_train = min(n, nlist * args.kmeans_sample_per_centroid)
        rows = np.sort(np.random.default_rng(1).choice(n, n_train, replace=False))
        index.train(corpus.vectors[rows].astype(np.float32))
        for a in range(0, n, 1 << 18):
            index.add(corpus.vectors[a:a + (1 << 18)].astype(np.float32))
        build_s, build_cpu = time.time() - t0, time.process_time() - c0
        faiss.write_index(index, cache)
        with open(cache + ".json", "w") as f:
            json.dump([build_s, build_cpu], f)
    rss_index = max(self_rss() - rss0, 0)
    code_bytes = index.code_size + 8  # PQ code + 64-bit id per token in the inverted lists
    log("  faiss IVF%d,PQ%d built in %.1f s (%.1f CPU s); RSS +%.0f MB" % (nlist, args.faiss_m, build_s, build_cpu, rss_index / MB))
    blas_set_threads(1)
    off = corpus.offsets
    out = []
    for setting in args.faiss_settings.split(","):
        nprobe, kprime = (int(v) for v in setting.split("/"))
        index.nprobe = nprobe
        results, lat = [], []
        for q in corpus.queries[:5]:  # warm-up
            index.search(q.astype(np.float32), kprime)
        c0 = time.process_time()
        for q in corpus.queries:
            t = time.perf_counter()
            q32 = q.astype(np.float32)
            _, ids = index.search(q32, kprime)
            ids = ids[ids >= 0]
            docs = np.unique(np.searchsorted(off, ids, side="right") - 1)
            results.append(rerank(corpus, q32, docs, 100).tolist())
            lat.append(time.perf_counter() - t)
        cpu = time.process_time() - c0
        p50, p99 = latency_stats(lat)
        out.append({
            "engine": "faiss IVF%d,PQ%d + exact fp16 rerank" % (nlist, args.faiss_m),
            "setting": "nprobe %d, k' %d" % (nprobe, kprime), "state": "-",
            "recall10": recall(results, truth, 10), "recall100": recall(results, truth, 100),
            "queries": len(lat), "qps": len(lat) / sum(lat), "qps_per_core": len(lat) / cpu,
            "busy_cores": cpu / sum(lat), "p50_ms": p50, "p99_ms": p99,
            "bytes_per_token": code_bytes + 2.0 * dim,
            "bytes_note": "%d IVF-PQ + %d fp16 rerank store" % (code_bytes, 2 * dim),
            "rss_mb_per_mtok": (rss_index + corpus.vectors.nbytes) / MB / (n / 1e6),
            "build_s_per_mtok": build_s / (n / 1e6), "build_cpu_s_per_mtok": build_cpu / (n / 1e6),
        })
        log("  " + row_text(out[-1]))
    blas_set_threads(os.cpu_count())
    del index
    return out


# ---------------------------------------------------------------- Tartan through gRPC

def generate_stubs(out_dir):
    from grpc_tools import protoc
    protos = [os.path.join(SRC, "proto", "tartan", "v1", name)
              for name in ("common.proto", "encoder.proto", "indexer.proto", "router.proto")]
    os.makedirs(out_dir, exist_ok=True)
    if protoc.main(["grpc_tools.protoc", "-I" + os.path.join(SRC, "proto"),
                    "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + protos) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    for package in ("tartan", os.path.join("tartan", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


class Service:
    """A Tartan process on 127.0.0.1 with a port picked by itself (--port_file)."""

    def __init__(self, binary, name, args, work):
        self.name = name
        port_file = os.path.join(work, name + ".ports")
        self.log_path = os.path.join(work, name + ".log")
        self.proc = subprocess.Popen(
            [binary] + args + ["--host=127.0.0.1", "--grpc_port=0", "--metrics_port=-1",
                               "--port_file=" + port_file],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.time() + 120
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited during start-up; see %s" % (name, self.log_path))
            if time.time() > deadline:
                raise RuntimeError("%s did not bind" % name)
            time.sleep(0.05)
        time.sleep(0.05)
        with open(port_file) as f:
            self.address = "127.0.0.1:%d" % json.load(f)["grpc_port"]

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def token_vectors(pb, x):
    return pb.TokenVectors(rows=x.shape[0], dim=x.shape[1], dtype=pb.FLOAT16,
                           data=np.ascontiguousarray(x, dtype="<f2").tobytes())


def batches(corpus, max_tokens=1 << 16, max_docs=1000):
    """(first doc, end doc) batches under max_tokens tokens (about 16 MB of fp16) and max_docs."""
    off = corpus.offsets
    d0 = 0
    while d0 < corpus.num_docs:
        d1 = int(np.searchsorted(off, off[d0] + max_tokens, side="right")) - 1
        d1 = min(max(d1, d0 + 1), d0 + max_docs, corpus.num_docs)
        yield d0, d1
        d0 = d1


def parse_tartan_setting(pb, setting):
    """'default' or NPROBE/CANDIDATES_APPROX/CANDIDATES_EXACT."""
    if setting == "default":
        return pb.SearchParams()
    nprobe, approx, exact = (int(v) for v in setting.split("/"))
    return pb.SearchParams(nprobe=nprobe, candidates_approx=approx, candidates_exact=exact)


class TartanTarget:
    """One indexer (through the Indexer API) or a router over shards (through the Router API)."""

    def __init__(self, args, corpus, work, shards, router):
        import grpc
        from tartan.v1 import common_pb2, indexer_pb2, indexer_pb2_grpc, router_pb2, router_pb2_grpc
        self.pb, self.ipb, self.rpb = common_pb2, indexer_pb2, router_pb2
        indexer = os.path.join(args.bin, "tartan-indexer")
        opts = [("grpc.max_send_message_length", 64 * MB), ("grpc.max_receive_message_length", 64 * MB)]
        self.shards = []
        for i in range(shards):
            # As the Helm chart does: shard 0 trains the codec, the others adopt it.
            share = ["--codec_source=" + self.shards[0].address] if i > 0 and args.share_codec else []
            self.shards.append(Service(indexer, "indexer%d" % i,
                                       ["--index_dir=%s/shard%d" % (work, i), "--dim=%d" % corpus.dim,
                                        "--threads=%d" % args.build_threads, "--shard_name=shard%d" % i]
                                       + share + args.indexer_arg, work))
        self.services = list(self.shards)
        self.shard_stubs = [indexer_pb2_grpc.IndexerStub(grpc.insecure_channel(s.address, options=opts))
                            for s in self.shards]
        self.router = None
        self.helpers = []
        self.write_stalls = 0  # writes refused by backpressure, then retried
        if router:
            # Vectors in and out, but the router checks the collection's dimension against the
            # encoder's model: a lexical test model of the corpus's dimension (never encodes).
            model = os.path.join(work, "model")
            subprocess.run([os.path.join(args.tools_bin, "tartanctl"), "make-test-model", "--lexical", "--out", model,
                            "--vocab-from", args.vocab, "--dim", str(corpus.dim)], check=True, stdout=subprocess.DEVNULL)
            encoder = Service(os.path.join(args.tools_bin, "tartan-encoder"), "encoder", ["--model=" + model, "--threads=1"], work)
            self.router = Service(os.path.join(args.bin, "tartan-router"), "router",
                                  ["--shards=" + ",".join(s.address for s in self.shards),
                                   "--encoder=" + encoder.address], work)
            # The encoder is idle while vectors are searched; its CPU is not counted.
            self.helpers = [encoder]
            self.services.append(self.router)
            self.router_stub = router_pb2_grpc.RouterStub(grpc.insecure_channel(self.router.address, options=opts))
        self.wait_ready()

    def wait_ready(self):
        import grpc
        deadline = time.time() + 120
        for stub in self.shard_stubs:
            while True:
                try:
                    stub.Stats(self.ipb.StatsRequest(), timeout=5)
                    break
                except grpc.RpcError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)

    def ingest(self, corpus):
        """One unary write per batch; RESOURCE_EXHAUSTED (flushing has fallen behind: the
        shard's backpressure) is retried after a pause, as a client should."""
        import grpc
        for d0, d1 in batches(corpus):
            vectors = [token_vectors(self.pb, corpus.vectors[corpus.offsets[i]:corpus.offsets[i + 1]]) for i in range(d0, d1)]
            while True:
                try:
                    if self.router:
                        self.router_stub.AddDocuments(self.rpb.AddDocumentsRequest(documents=[
                            self.rpb.NewDocument(id=corpus.doc_id(i), vectors=v) for i, v in zip(range(d0, d1), vectors)]),
                            timeout=600)
                    else:
                        self.shard_stubs[0].Upsert(self.ipb.UpsertRequest(documents=[
                            self.pb.Document(id=corpus.doc_id(i), vectors=v) for i, v in zip(range(d0, d1), vectors)]),
                            timeout=600)
                    break
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    self.write_stalls += 1
                    time.sleep(1)

    def stats(self):
        return [stub.Stats(self.ipb.StatsRequest(), timeout=60) for stub in self.shard_stubs]

    def settle(self):
        """Waits until no background flush, compaction or retrain runs (twice, 0.5 s apart)."""
        quiet = 0
        while quiet < 2:
            busy = any(s.flush_running or s.compaction_running or s.retrain_running for s in self.stats())
            quiet = 0 if busy else quiet + 1
            time.sleep(0.5)

    def flush(self):
        for stub in self.shard_stubs:
            stub.Flush(self.ipb.FlushRequest(), timeout=3600)

    def compact(self):
        for stub in self.shard_stubs:
            stub.Compact(self.ipb.CompactRequest(), timeout=3600)

    def search(self, q, k, params):
        if self.router:
            reply = self.router_stub.Search(self.rpb.SearchRequest(vectors=token_vectors(self.pb, q), k=k, params=params), timeout=60)
        else:
            reply = self.shard_stubs[0].Search(self.ipb.ShardSearchRequest(query=token_vectors(self.pb, q), k=k, params=params), timeout=60)
        return [h.id for h in reply.hits]

    def cpu_seconds(self):
        return sum(s.cpu_seconds() for s in self.services)

    def rss(self):
        return sum(s.rss() for s in self.services)

    def stop(self):
        for s in self.services + self.helpers:
            s.stop()


def run_tartan(corpus, truth, args, shards, router):
    work = tempfile.mkdtemp(prefix="sbench-tartan-", dir=args.work)
    target = TartanTarget(args, corpus, work, shards, router)
    engine = "Tartan router + %d shards (gRPC)" % shards if router else "Tartan indexer (gRPC)"
    if args.indexer_arg:
        engine += " " + " ".join(args.indexer_arg)
    mtok = corpus.num_tokens / 1e6
    out = []
    try:
        rss_start = target.rss()
        t0, c0 = time.time(), target.cpu_seconds()
        target.ingest(corpus)
        ingest_s = time.time() - t0
        target.settle()
        settle_s = time.time() - t0
        log("  ingested %d docs in %.1f s (%d writes refused by backpressure and retried; background flushes, retrains and compactions done at %.1f s; indexer CPU %.1f s); RSS %.0f MB at start"
            % (corpus.num_docs, ingest_s, target.write_stalls, settle_s, target.cpu_seconds() - c0, rss_start / MB))
        states = [("as ingested", None), ("after Flush", target.flush), ("after Compact", target.compact)]
        for state, action in states:
            if action:
                a0 = time.time()
                action()
                target.settle()
                log("  %s: %.1f s" % (state, time.time() - a0))
            build_s = time.time() - t0  # ingest + every flush/compaction so far
            build_cpu = target.cpu_seconds() - c0
            stats = target.stats()
            tokens = sum(s.token_vectors for s in stats)
            disk = sum(s.bytes_on_disk for s in stats)
            ram = sum(s.bytes_in_ram for s in stats)
            state_text = "%s: %d segments, %d unflushed tokens" % (
                state, sum(s.segments for s in stats), sum(s.unflushed_tokens for s in stats))
            # Every setting on the final state; the first one only on the states before it.
            settings = args.tartan_settings.split(",")
            for setting in settings if action == target.compact else settings[:1]:
                params = parse_tartan_setting(target.pb, setting)
                for q in corpus.queries[:5]:  # warm-up
                    target.search(q, 10, params)
                results, lat = [], []
                cpu0 = target.cpu_seconds()
                for q in corpus.queries:
                    t = time.perf_counter()
                    results.append([corpus.doc_number(i) for i in target.search(q, 10, params)])
                    lat.append(time.perf_counter() - t)
                cpu = target.cpu_seconds() - cpu0
                results100 = [[corpus.doc_number(i) for i in target.search(q, 100, params)] for q in corpus.queries]
                p50, p99 = latency_stats(lat)
                rss = target.rss()
                out.append({
                    "engine": engine, "setting": setting, "state": state_text,
                    "recall10": recall(results, truth, 10), "recall100": recall(results100, truth, 100),
                    "queries": len(lat), "qps": len(lat) / sum(lat),
                    "qps_per_core": len(lat) / cpu if cpu > 0 else float("nan"),
                    "busy_cores": cpu / sum(lat), "p50_ms": p50, "p99_ms": p99,
                    "bytes_per_token": disk / tokens if tokens else float("nan"),
                    "bytes_note": "on disk; %.1f in RAM per shard stats" % (ram / tokens if tokens else float("nan")),
                    "rss_mb_per_mtok": rss / MB / mtok, "rss_mb": rss / MB,
                    "build_s_per_mtok": build_s / mtok, "build_cpu_s_per_mtok": build_cpu / mtok,
                })
                log("  " + row_text(out[-1]))
    finally:
        target.stop()
        if not args.keep_work:
            subprocess.run(["rm", "-rf", work])
    return out


# ---------------------------------------------------------------- report

def row_text(r):
    return ("%s | %s | %s | r@10 %.3f | r@100 %.3f | QPS %.1f | QPS/core %.1f | cores %.2f | p50/p99 %.1f/%.1f ms | %.1f B/tok (%s) | RSS %.0f MB/Mtok | build %.1f s/Mtok, %.1f CPU s/Mtok"
            % (r["engine"], r["setting"], r["state"], r["recall10"], r["recall100"], r["qps"], r["qps_per_core"],
               r["busy_cores"], r["p50_ms"], r["p99_ms"], r["bytes_per_token"], r["bytes_note"],
               r["rss_mb_per_mtok"], r["build_s_per_mtok"], r["build_cpu_s_per_mtok"]))


def markdown(corpus_rows):
    lines = []
    for c, rows in corpus_rows:
        lines.append("\n%s: %d documents, %d token vectors of dim %d (%.1f per document), %d queries of %s tokens\n"
                     % (c["name"], c["docs"], c["tokens"], c["dim"], c["tokens"] / c["docs"], c["queries"], c["query_tokens"]))
        lines.append("| engine | setting | state | recall@10 | recall@100 | QPS, 1 client | QPS per busy core | busy cores | p50 / p99 ms | bytes/token | RSS MB per Mtok | build s (CPU s) per Mtok |")
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
        for r in rows:
            lines.append("| %s | %s | %s | %.3f | %.3f | %.1f | %.1f | %.2f | %.1f / %.1f | %.0f (%s) | %.0f | %.1f (%.1f) |" % (
                r["engine"], r["setting"], r["state"], r["recall10"], r["recall100"], r["qps"], r["qps_per_core"],
                r["busy_cores"], r["p50_ms"], r["p99_ms"], r["bytes_per_token"], r["bytes_note"],
                r["rss_mb_per_mtok"], r["build_s_per_mtok"], r["build_cpu_s_per_mtok"]))
    return "\n".join(lines) + "\n"


def environment():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=SRC).stdout.strip()
        except OSError:
            return ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "repo_head": sh("git rev-parse --short HEAD"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'") + ", %d vCPUs" % os.cpu_count(),
        "load": sh("cat /proc/loadavg"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "python": platform.python_version(),
        "command": " ".join([sys.argv[0]] + sys.argv[1:]),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", required=True, help="corpus directory (repeatable)")
    p.add_argument("--bin", default=os.path.join(SRC, "build", "bin"), help="folder with tartan-indexer")
    p.add_argument("--engine-label", default="", help="what --bin was built from (recorded), e.g. a commit")
    p.add_argument("--tools-bin", default="", help="folder with tartanctl and tartan-encoder (default: --bin)")
    p.add_argument("--vocab", default=os.path.join(SRC, "..", "shared", "data", "modernbert-tokenizer"),
                   help="tokenizer folder for the router's test model (--router)")
    p.add_argument("--engines", default="exact,faiss,tartan", help="comma-separated: exact,faiss,tartan")
    p.add_argument("--router", action="store_true", help="also Tartan through tartan-router over 2 shards")
    p.add_argument("--share-codec", action=argparse.BooleanOptionalAction, default=True,
                   help="with --router: shard 1 adopts shard 0's codec (--codec_source), as in Helm")
    p.add_argument("--queries", type=int, default=300, help="queries per corpus (the first N)")
    p.add_argument("--exact-timed-queries", type=int, default=10, help="queries timed for brute force")
    p.add_argument("--faiss-m", type=int, default=32, help="PQ sub-quantizers (8 bits each)")
    p.add_argument("--faiss-nlist", type=int, default=0,
                   help="IVF lists; 0 = Tartan's centroid count, 2^floor(log2(16 sqrt(tokens)))")
    p.add_argument("--faiss-settings", default="1/16,1/32,2/64", help="NPROBE/K' per query token, comma-separated")
    p.add_argument("--tartan-settings", default="default,8/256/64",
                   help="'default' or NPROBE/CANDIDATES_APPROX/CANDIDATES_EXACT, comma-separated")
    p.add_argument("--indexer-arg", action="append", default=[],
                   help="extra tartan-indexer flag, e.g. --indexer-arg=--rerank_store (repeatable)")
    p.add_argument("--kmeans-iterations", type=int, default=6, help="faiss k-means rounds (Tartan's default)")
    p.add_argument("--kmeans-sample-per-centroid", type=int, default=16, help="faiss training vectors per list")
    p.add_argument("--build-threads", type=int, default=2, help="threads for faiss and Tartan builds")
    p.add_argument("--work", default=tempfile.gettempdir(), help="where Tartan's index directories go")
    p.add_argument("--keep-work", action="store_true", help="keep Tartan's index directories and logs")
    p.add_argument("--json-out", help="write every row and the environment as JSON")
    p.add_argument("--markdown-out", help="write the tables as Markdown")
    args = p.parse_args()
    engines = set(args.engines.split(","))
    args.tools_bin = args.tools_bin or args.bin
    env = environment()
    env["engine"] = args.engine_label or "%s as built in %s" % (env["repo_head"], args.bin)
    log("peer_bench: %s; engine %s; load %s; OPENBLAS_CORETYPE=%s" % (env["cpu"], env["engine"], env["load"], env["openblas_coretype"]))
    if "tartan" in engines or args.router:
        generate_stubs(tempfile.mkdtemp(prefix="sbench-stubs-", dir=args.work))
    corpus_rows = []
    for path in args.corpus:
        corpus = Corpus(path, args.queries)
        log("\n%s: %d docs, %d tokens, dim %d, %d queries" % (corpus.name, corpus.num_docs, corpus.num_tokens, corpus.dim, len(corpus.queries)))
        truth, _ = exact_topk(corpus)
        rows = []
        if "exact" in engines:
            rows += run_exact(corpus, truth, args.exact_timed_queries)
            log("  " + row_text(rows[-1]))
        corpus.vectors32 = None  # the fp32 copy is only for brute force
        if "faiss" in engines:
            rows += run_faiss(corpus, truth, args)
        if "tartan" in engines:
            rows += run_tartan(corpus, truth, args, shards=1, router=False)
        if args.router:
            rows += run_tartan(corpus, truth, args, shards=2, router=True)
        qlens = sorted({len(q) for q in corpus.queries})
        corpus_rows.append(({"name": corpus.name, "docs": corpus.num_docs, "tokens": corpus.num_tokens, "dim": corpus.dim,
                             "queries": len(corpus.queries),
                             "query_tokens": str(qlens[0]) if len(qlens) == 1 else "%d-%d" % (qlens[0], qlens[-1])}, rows))
    env["load_after"] = subprocess.run(["cat", "/proc/loadavg"], capture_output=True, text=True).stdout.strip()
    text = markdown(corpus_rows)
    log("\n" + text)
    if args.markdown_out:
        with open(args.markdown_out, "w") as f:
            f.write(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"environment": env, "corpora": [{"corpus": c, "rows": r} for c, r in corpus_rows]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
