#!/usr/bin/python3
"""SciFact token vectors for peer_bench.py, produced by `tartanctl encode` (real skew: frequent
tokens pile into a few directions).

Encodes BEIR SciFact's corpus (title + " " + text, as `tartanctl ingest` does) as documents and
its test queries (the query ids of qrels/test.tsv, in order) as queries with a PyLate model,
by default the lexical test model the demo uses (`tartanctl make-test-model --lexical`), and
writes the layout peer_bench.py reads: doc_vectors.npy <f2 [tokens, dim], doc_offsets.npy,
queries.npy <f2 [query tokens, dim] with query_offsets.npy, ids.json (BEIR document ids).

  bench/indexer/scifact_vectors.py --bin build-sbench/bin --data ../shared/data --out /tmp/sbench/scifact
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np


def read_jsonl(paths):
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def encode(tartanctl, model, kind, texts, threads):
    """[token vectors fp16] per text, in order, from `tartanctl encode --<kind>`."""
    proc = subprocess.Popen([tartanctl, "encode", "--model", model, "--" + kind, "--threads", str(threads)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1 << 20)

    def feed():
        for t in texts:
            proc.stdin.write(json.dumps({"text": t}) + "\n")
        proc.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    out = [np.asarray(json.loads(line)["embeddings"], dtype=np.float16) for line in proc.stdout]
    writer.join()
    if proc.wait() != 0 or len(out) != len(texts):
        raise RuntimeError("tartanctl encode --%s failed (%d of %d outputs)" % (kind, len(out), len(texts)))
    return out


def write_ragged(out_dir, name, offsets_name, arrays):
    np.save(os.path.join(out_dir, name), np.concatenate(arrays).astype("<f2"))
    np.save(os.path.join(out_dir, offsets_name), np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype("<i8"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True, help="folder with tartanctl")
    p.add_argument("--data", required=True, help="shared data folder (scifact-beir, modernbert-tokenizer)")
    p.add_argument("--out", required=True, help="output corpus folder")
    p.add_argument("--model", default="", help="PyLate model folder (default: the lexical test model, made in --out)")
    p.add_argument("--limit", type=int, default=0, help="encode only the first N documents (0 = all)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    tartanctl = os.path.join(args.bin, "tartanctl")
    os.makedirs(args.out, exist_ok=True)
    model = args.model
    if not model:
        model = os.path.join(args.out, "lexical-model")
        if not os.path.exists(os.path.join(model, "model.safetensors")):
            subprocess.run([tartanctl, "make-test-model", "--lexical", "--out", model, "--vocab-from",
                            os.path.join(args.data, "modernbert-tokenizer")], check=True, stdout=subprocess.DEVNULL)
    beir = os.path.join(args.data, "scifact-beir")
    docs = list(read_jsonl(sorted(glob.glob(os.path.join(beir, "corpus*.jsonl")))))
    if args.limit:
        docs = docs[:args.limit]
    texts = [(d.get("title", "") + " " + d.get("text", "")).strip() for d in docs]
    t0 = time.time()
    doc_vectors = encode(tartanctl, model, "documents", texts, args.threads)
    print("encoded %d documents (%d tokens) in %.1f s" % (len(docs), sum(len(v) for v in doc_vectors), time.time() - t0))
    write_ragged(args.out, "doc_vectors.npy", "doc_offsets.npy", doc_vectors)
    with open(os.path.join(args.out, "ids.json"), "w") as f:
        json.dump([d["_id"] for d in docs], f)

    queries = {q["_id"]: q["text"] for q in read_jsonl([os.path.join(beir, "queries.jsonl")])}
    with open(os.path.join(beir, "qrels", "test.tsv")) as f:
        next(f)  # header
        test_ids = list(dict.fromkeys(line.split("\t")[0] for line in f if line.strip()))
    query_vectors = encode(tartanctl, model, "queries", [queries[q] for q in test_ids], args.threads)
    write_ragged(args.out, "queries.npy", "query_offsets.npy", query_vectors)
    with open(os.path.join(args.out, "corpus.json"), "w") as f:
        json.dump({"corpus": "scifact", "model": "lexical test model" if not args.model else args.model,
                   "docs": len(docs), "queries": len(test_ids)}, f)
    print("encoded %d test queries; wrote %s" % (len(test_ids), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
