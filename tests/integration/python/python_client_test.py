#!/usr/bin/python3
"""A Python gRPC client against real Tartan processes.

Generates Python stubs from proto/ with grpc_tools (Debian's python3-grpc-tools), starts a
lexical test model's encoder, two indexer shards and a router on 127.0.0.1 (ports picked by the
services, read from --port_file), then through the stubs: checks health, reads the model info,
ingests documents (unary and client-streaming), searches, reranks and deletes, and finally stops
every process with SIGTERM and checks each exits 0. The router runs with --api_keys_file: the
client sends its key as "authorization: Bearer KEY" metadata (ApiKey below, a client
interceptor), and a call without a key must be UNAUTHENTICATED.

Env: TARTAN_BIN_DIR, TARTAN_SOURCE_DIR, TARTAN_SHARED_DIR (skips with 77 without it).
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

BIN = os.environ.get("TARTAN_BIN_DIR", "build/bin")
SRC = os.environ.get("TARTAN_SOURCE_DIR", ".")
SHARED = os.environ.get("TARTAN_SHARED_DIR", "")
SKIP = 77


def fail(message):
    print("FAIL:", message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def generate_stubs(out_dir):
    from grpc_tools import protoc
    os.makedirs(out_dir, exist_ok=True)
    protos = [os.path.join(SRC, "proto", "tartan", "v1", name)
              for name in ("common.proto", "encoder.proto", "indexer.proto", "router.proto")]
    rc = protoc.main(["grpc_tools.protoc", "-I" + os.path.join(SRC, "proto"),
                      "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + protos)
    check(rc == 0, "grpc_tools.protoc failed")
    for package in ("tartan", os.path.join("tartan", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)


def die_with_parent():
    # PR_SET_PDEATHSIG = 1, SIGKILL = 9: a killed test must not leave services behind.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)


class Service:
    def __init__(self, binary, name, args, work):
        self.name = name
        self.port_file = os.path.join(work, name + ".ports")
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, binary)] + args +
            ["--host=127.0.0.1", "--grpc_port=0", "--metrics_port=0", "--port_file=" + self.port_file],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.time() + 120
        while not os.path.exists(self.port_file):
            check(self.proc.poll() is None, f"{name} exited during start-up")
            check(time.time() < deadline, f"{name} did not bind")
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = json.load(f)["grpc_port"]
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


API_KEY = "python-test-key-3d9b0f6a1c7e2854"  # scopes read,write,admin


def with_api_key(grpc, channel, key):
    """`channel` with "authorization: Bearer KEY" added to every unary and client-streaming call."""
    import collections

    class Details(collections.namedtuple("Details", ["method", "timeout", "metadata", "credentials",
                                                     "wait_for_ready", "compression"]),
                  grpc.ClientCallDetails):
        pass

    def add_key(details):
        metadata = list(details.metadata or []) + [("authorization", "Bearer " + key)]
        return Details(details.method, details.timeout, metadata, details.credentials,
                       details.wait_for_ready, details.compression)

    class Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            return continuation(add_key(details), request)

        def intercept_stream_unary(self, continuation, details, request_iterator):
            return continuation(add_key(details), request_iterator)

    return grpc.intercept_channel(channel, Interceptor())


def health(channel):
    # grpc.health.v1.Health/Check with an empty HealthCheckRequest; the reply's field 1 is the
    # status enum (1 = SERVING). Raw bytes: Debian ships no grpcio-health-checking.
    check_rpc = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda _: b"",
                                    response_deserializer=lambda b: b)
    reply = check_rpc(None, timeout=5)
    return reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0


def main():
    if not SHARED or not os.path.isdir(SHARED):
        print("skipped: TARTAN_SHARED_DIR unavailable")
        return SKIP
    import grpc
    work = tempfile.mkdtemp(prefix="tartan-python-")
    generate_stubs(os.path.join(work, "stubs"))
    from tartan.v1 import common_pb2, encoder_pb2, encoder_pb2_grpc, router_pb2, router_pb2_grpc

    model = os.path.join(work, "model")
    subprocess.run([os.path.join(BIN, "tartanctl"), "make-test-model", "--lexical", "--out", model,
                    "--vocab-from", os.path.join(SHARED, "data", "modernbert-tokenizer")],
                   check=True, stdout=subprocess.DEVNULL)
    services = []
    try:
        encoder = Service("tartan-encoder", "encoder", ["--model=" + model, "--threads=1"], work)
        services.append(encoder)
        shards = [Service("tartan-indexer", f"indexer{i}", [f"--index_dir={work}/shard{i}", "--dim=128"], work)
                  for i in range(2)]
        services.extend(shards)
        keys_file = os.path.join(work, "api.keys")
        with open(keys_file, "w") as f:
            f.write(f"# python_client_test\nread,write,admin {API_KEY}\n")
        router = Service("tartan-router", "router", ["--encoder=" + encoder.address,
                                           "--shards=" + ",".join(s.address for s in shards),
                                           "--api_keys_file=" + keys_file], work)
        services.append(router)

        encoder_channel = grpc.insecure_channel(encoder.address)
        router_channel = grpc.insecure_channel(router.address)
        deadline = time.time() + 120
        while health(encoder_channel) != 1:  # SERVING once the model is loaded
            check(time.time() < deadline, "encoder never became SERVING")
            time.sleep(0.1)
        check(health(router_channel) == 1, "router not SERVING")

        info = encoder_pb2_grpc.EncoderStub(encoder_channel).GetModelInfo(
            encoder_pb2.GetModelInfoRequest(), timeout=10)
        check(info.dim == 128 and info.architecture == "modernbert", f"model info: {info}")
        encoded = encoder_pb2_grpc.EncoderStub(encoder_channel).Encode(
            encoder_pb2.EncodeRequest(texts=["hello world"], kind=encoder_pb2.QUERY), timeout=10)
        q = np.frombuffer(encoded.results[0].vectors.data, dtype="<f4").reshape(
            encoded.results[0].vectors.rows, encoded.results[0].vectors.dim)
        check(q.shape == (info.query_length, 128), f"query shape {q.shape}")
        check(np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5), "query vectors not unit length")

        try:
            router_pb2_grpc.RouterStub(router_channel).Search(
                router_pb2.SearchRequest(text="walrus", k=3), timeout=10)
            fail("search without an API key accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNAUTHENTICATED, f"no key gave {e.code()}")
        stub = router_pb2_grpc.RouterStub(with_api_key(grpc, router_channel, API_KEY))
        docs = {
            "py-1": "The walrus lives on the arctic ice.",
            "py-2": "A lighthouse guides ships into the harbor.",
            "py-3": "Volcanoes erupt with molten lava.",
            "py-4": "The penguin swims in cold water.",
        }
        added = stub.AddDocuments(router_pb2.AddDocumentsRequest(documents=[
            router_pb2.NewDocument(id=i, text=t, metadata={"lang": "en"}) for i, t in list(docs.items())[:2]]),
            timeout=30)
        check(added.added == 2, f"AddDocuments added {added.added}")

        def batches():
            for i, t in list(docs.items())[2:]:
                yield router_pb2.AddDocumentsRequest(documents=[router_pb2.NewDocument(id=i, text=t)])
        streamed = stub.AddDocumentsStream(batches(), timeout=30)
        check(streamed.added == 2, f"AddDocumentsStream added {streamed.added}")

        for query, expected in (("the walrus", "py-1"), ("the harbor lighthouse", "py-2"),
                                ("the penguin", "py-4")):
            reply = stub.Search(router_pb2.SearchRequest(text=query, k=3), timeout=10)
            check(not reply.partial, "partial reply")
            check(reply.hits and reply.hits[0].id == expected,
                  f"{query!r}: got {[h.id for h in reply.hits]}")
        reranked = stub.Rerank(router_pb2.RerankRequest(text="molten lava", candidates=[
            router_pb2.RerankCandidate(id=i, text=t) for i, t in docs.items()]), timeout=10)
        check(reranked.hits[0].id == "py-3", f"rerank: {[h.id for h in reranked.hits]}")

        try:
            stub.Search(router_pb2.SearchRequest(text="walrus", k=0), timeout=10)
            fail("k=0 accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"k=0 gave {e.code()}")

        deleted = stub.DeleteDocuments(router_pb2.DeleteDocumentsRequest(ids=["py-1"]), timeout=10)
        check(deleted.deleted == 1, f"deleted {deleted.deleted}")
        reply = stub.Search(router_pb2.SearchRequest(text="the walrus", k=4), timeout=10)
        check("py-1" not in [h.id for h in reply.hits], "deleted document still found")
        status = stub.ClusterStatus(router_pb2.ClusterStatusRequest(), timeout=10)
        check(status.documents == 3 and len(status.shards) == 2, f"cluster status: {status}")
    finally:
        codes = [(s.name, s.stop()) for s in reversed(services)]
    for name, code in codes:
        check(code == 0, f"{name} exited with {code} after SIGTERM")
    print("python client test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
