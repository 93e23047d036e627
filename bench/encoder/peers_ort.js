// ONNX Runtime peer for encoder_bench (npm onnxruntime-node, CPU execution provider): runs the
// ONNX graphs peers_torch.py exported from the random checkpoints encoder_bench --keep_models
// wrote (model.onnx fp32, model.int8.onnx from quantize_int8.py when present), checks the fp32
// graph against Tartan's float32 output for one 32-token query, and prints one markdown row per
// configuration (tokens/s from wall time and from process CPU time).
//
//   node peers_ort.js MODELS_DIR [models=base,ettin32m] [threads=1,2] [min_seconds=1.5]
'use strict';
const fs = require('fs');
const path = require('path');
const depsDir = process.env.TARTAN_BENCH_DEPS || path.join(process.env.HOME, '.cache/tartan-bench');
const ort = require(path.join(depsDir, 'node_modules/onnxruntime-node'));

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// Deterministic ids in [0, vocab): the timing does not depend on which tokens they are.
function randomIds(n, vocab, seed) {
  const ids = new BigInt64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    ids[i] = BigInt(s % vocab);
  }
  return ids;
}

async function timed(session, feeds, minSeconds, maxReps) {
  await session.run(feeds);  // warm-up
  const walls = [];
  let total = 0;
  const cpu0 = cpuSeconds();
  while (walls.length < maxReps && (walls.length === 0 || total < minSeconds)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    walls.push(s);
    total += s;
  }
  const cpu = (cpuSeconds() - cpu0) / walls.length;
  walls.sort((a, b) => a - b);
  return [walls[Math.floor(walls.length / 2)], cpu];
}

async function main() {
  const [modelsDir, models = 'base,ettin32m', threadList = '1,2', minSec = '1.5'] =
      process.argv.slice(2);
  console.log(`onnxruntime-node ${ort.env.versions.node}, CPU execution provider`);
  for (const name of models.split(',')) {
    const dir = path.join(modelsDir, name);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json')));
    const variants = [['fp32', 'model.onnx'], ['dynamic int8', 'model.int8.onnx']].filter(
        ([, file]) => fs.existsSync(path.join(dir, file)));
    for (const threads of threadList.split(',').map(Number)) {
      for (const [label, file] of variants) {
        const session = await ort.InferenceSession.create(path.join(dir, file), {
          executionProviders: ['cpu'],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
        });
        // The check: the same 32 ids Tartan ran, compared with Tartan's float32 output.
        const idBytes = fs.readFileSync(path.join(dir, 'check_ids.i32'));
        const ids32 = new Int32Array(idBytes.buffer, idBytes.byteOffset, idBytes.length / 4);
        const want = fs.readFileSync(path.join(dir, 'check_hidden.f32'));
        const wantF = new Float32Array(want.buffer, want.byteOffset, want.length / 4);
        const out = await session.run({
          input_ids: new ort.Tensor('int64', BigInt64Array.from(ids32, BigInt), [1, ids32.length]),
        });
        const got = out.last_hidden_state.data;
        let worstCos = 1;
        const h = cfg.hidden_size;
        for (let t = 0; t < ids32.length; ++t) {
          let dot = 0, na = 0, nb = 0;
          for (let d = 0; d < h; ++d) {
            const a = got[t * h + d], b = wantF[t * h + d];
            dot += a * b; na += a * a; nb += b * b;
          }
          worstCos = Math.min(worstCos, dot / Math.sqrt(na * nb));
        }
        console.log(`${name} ${label}, ${threads} thread(s): worst per-token cosine vs Tartan ` +
                    `fp32 on one 32-token query ${worstCos.toFixed(6)}`);
        for (const [wname, batch, length] of [['query', 1, 32], ['doc', 8, 180]]) {
          const feeds = {
            input_ids: new ort.Tensor('int64', randomIds(batch * length, cfg.vocab_size, 42),
                                      [batch, length]),
          };
          const [wall, cpu] = await timed(session, feeds, Number(minSec), 3);
          const tokens = batch * length;
          console.log(`| ONNX Runtime ${label} | ${name} | ${wname} ${batch}x${length} | ` +
                      `${threads} | ${(wall * 1e3).toFixed(1)} | ${(tokens / wall).toFixed(0)} | ` +
                      `${(tokens / (cpu / threads)).toFixed(0)} |`);
        }
        await session.release();
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
