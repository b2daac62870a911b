// ONNX Runtime's side of tools/bench: times InferenceSession.run the way
// `bnnc bench` times bnn_session_run (same batch, threads, warm-up and timed
// runs; random inputs made once), and prints one JSON object.
//
// usage: node tools/bench_ort.js MODEL.onnx --shape 64,1,28,28 [--threads T]
//                                [--iters N] [--warmup N]
// NODE_PATH must reach onnxruntime-node (tools/bench installs it in a cache).
'use strict';

const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const o = { threads: 1, iters: 100, warmup: 10, shape: null, model: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') o.threads = parseInt(next(), 10);
    else if (a === '--iters') o.iters = parseInt(next(), 10);
    else if (a === '--warmup') o.warmup = parseInt(next(), 10);
    else if (a === '--shape') o.shape = next().split(',').map((d) => parseInt(d, 10));
    else if (!o.model) o.model = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!o.model || !o.shape) throw new Error('usage: bench_ort.js MODEL --shape D0,D1,...');
  return o;
}

function percentile(sorted, q) {
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  if (lo >= sorted.length - 1) return sorted[sorted.length - 1];
  return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(o.model, {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const n = o.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let seed = 42;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = (seed >>> 8) / 16777216;
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, o.shape) };
  const ms = [];
  for (let i = 0; i < o.warmup + o.iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= o.warmup) ms.push(dt);
  }
  ms.sort((a, b) => a - b);
  const median = percentile(ms, 50);
  console.log(JSON.stringify({
    runtime: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
    batch: o.shape[0],
    threads: o.threads,
    iters: o.iters,
    median_ms: median,
    p10_ms: percentile(ms, 10),
    p90_ms: percentile(ms, 90),
    samples_per_s: o.shape[0] / (median / 1e3),
    peak_rss_mib: process.resourceUsage().maxRSS / 1024,
  }));
}

main().catch((e) => {
  console.error(`bench_ort: ${e.message}`);
  process.exit(1);
});
