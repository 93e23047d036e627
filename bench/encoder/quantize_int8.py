#!/usr/bin/python3
"""Dynamic int8 version of an exported ONNX encoder, the graph onnxruntime's quantize_dynamic
writes (its Python package is not installable here): every MatMul with a constant weight
becomes DynamicQuantizeLinear(activations, uint8, per tensor, per call) -> MatMulInteger with
int8 weights quantised per output channel (symmetric) -> Cast -> Mul(activation scale x weight
scales). ONNX Runtime fuses that into its DynamicQuantizeMatMul kernel (VNNI where present).

  quantize_int8.py MODEL.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def main():
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_nodes, new_inits, done = [], [], 0
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)  # [K, N]
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = f"q{done}"
        new_inits += [numpy_helper.from_array(wq, base + "_w"),
                      numpy_helper.from_array(scale.astype(np.float32), base + "_ws"),
                      numpy_helper.from_array(np.zeros(w.shape[1], np.int8), base + "_wzp")]
        a = node.input[0]
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [base + "_a", base + "_as", base + "_azp"]),
            helper.make_node("MatMulInteger", [base + "_a", base + "_w", base + "_azp", base + "_wzp"],
                             [base + "_i32"]),
            helper.make_node("Cast", [base + "_i32"], [base + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [base + "_as", base + "_ws"], [base + "_s"]),
            helper.make_node("Mul", [base + "_f", base + "_s"], [node.output[0]]),
        ]
        done += 1
    used = {n for node in new_nodes for n in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.save(model, dst)
    print(f"{dst}: {done} MatMuls quantised (int8 per-channel weights, dynamic uint8 activations)")


if __name__ == "__main__":
    main()
