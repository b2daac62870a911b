// Reference outputs from ONNX Runtime for test fixtures: for each MODEL.onnx
// given, reads MODEL.input.npy (float32 or int64, C order), runs the model's first
// input on it and writes its first output to MODEL.output.npy (float32).  A model
// with several inputs reads MODEL.input.NAME.npy for each input NAME instead.
//
// usage: NODE_PATH=.../node_modules node tools/ort_reference.js A.onnx [B.onnx ...]
// onnxruntime-node comes from npm (npm install --ignore-scripts onnxruntime-node
// in a scratch directory outside the repository; tools/bench keeps one in
// ~/.cache/bnnc-bench).
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const int64 = /'descr':\s*'<i8'/.test(header);
  if ((!int64 && !/'descr':\s*'<f4'/.test(header)) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${path}: want little-endian float32 or int64 in C order, header ${header}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map((s) => s.trim())
    .filter((s) => s.length).map((s) => parseInt(s, 10));
  const n = shape.reduce((a, b) => a * b, 1);
  if (int64) {
    const ids = new BigInt64Array(n);
    for (let i = 0; i < n; i++) ids[i] = buf.readBigInt64LE(start + 8 * i);
    return { shape, data: ids, type: 'int64' };
  }
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(start + 4 * i);
  return { shape, data, type: 'float32' };
}

function writeNpy(path, dims, data) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * data.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], 10 + header.length + 4 * i);
  fs.writeFileSync(path, out);
}

async function main() {
  for (const model of process.argv.slice(2)) {
    const stem = model.replace(/\.onnx$/, '');
    // Graph optimizations off: the reference is the ONNX semantics, not ORT's
    // rewrites of them (onnxruntime-node 1.20.1 fuses Pad + AveragePool into
    // one AveragePool without count_include_pad, so MaxViT's downsampling
    // averages the borders wrongly; measured against numpy and against ORT
    // itself with optimizations off).
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1,
                                                               graphOptimizationLevel: 'disabled' });
    const names = session.inputNames.length > 1 ? session.inputNames : [session.inputNames[0]];
    const feeds = {};
    for (const name of names) {
      const x = readNpy(names.length > 1 ? `${stem}.input.${name}.npy` : `${stem}.input.npy`);
      feeds[name] = new ort.Tensor(x.type, x.data, x.shape);
    }
    const result = await session.run(feeds);
    const y = result[session.outputNames[0]];
    writeNpy(`${stem}.output.npy`, y.dims, Float32Array.from(y.data));
    const shown = names.map((n) => `${n} [${feeds[n].dims}]`).join(', ');
    console.log(`${model}: ${shown} -> ${session.outputNames[0]} [${y.dims}]`);
  }
}

main().catch((e) => {
  console.error(`ort_reference.js: ${e.message}`);
  process.exit(1);
});
