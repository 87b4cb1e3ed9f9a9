// Runs the web demo's pure modules under Node for tests/web/test_web_logic.py: a JSON request on stdin
// ({"op": "resize" | "metadata", "cases": [...]}, bytes as base64), one JSON answer on stdout.
import {readMetadata} from '../../web_demo/src/metadata.js';
import {resize} from '../../web_demo/src/preprocess.js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
const b64 = (array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64');

const answers = [];
for (const c of request.cases) {
  if (request.op === 'resize') {
    answers.push(b64(resize(bytes(c.rgb), c.width, c.height, c.out_width, c.out_height)));
  } else if (request.op === 'metadata') {
    try {
      const m = await readMetadata(bytes(c.bytes), c.name);
      answers.push({ok: {name: m.name, size: m.size, inputType: m.inputType, inputQuantization: m.inputQuantization,
                         channelOrder: m.channelOrder, mean: m.mean, std: m.std, cropFraction: m.cropFraction,
                         outputType: m.outputType, outputQuantization: m.outputQuantization,
                         outputKind: m.outputKind, labels: m.labels, inputBytes: m.inputBytes,
                         outputBytes: m.outputBytes}});
    } catch (err) {
      answers.push({error: err.message, type: err.name});
    }
  } else {
    throw new Error(`unknown op ${request.op}`);
  }
}
process.stdout.write(JSON.stringify(answers));
