// The real P2P Media Loader 2.3.1 as a test oracle for p2pml-proto.
//
// Reads one JSON request per line on stdin and writes one JSON reply per line
// on stdout. Everything on the wire path is the compiled code of the npm
// package `p2p-media-loader-core`; nothing here re-implements it.
//
//   {"op":"version"}                               -> {"version":"2.3.1"}
//   {"op":"encode","command":{...},"max":N}        -> {"messages":[hex...]}
//   {"op":"decode","messages":[hex...]}            -> {"decoded":{...}} | {"error":"..."}
//   {"op":"random","count":N}                      -> {"items":[{command,max,messages,decoded}]}
//   {"op":"identity","swarmId":S,"type":T,"props":{...}} -> {index,streamSwarmId,infoHash}
import fs from "node:fs";
import readline from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The package's `exports` hide its internals, so import them by path from the
// repository's node_modules (installed by `npm ci --ignore-scripts`).
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const root = path.join(repo, "node_modules", "p2p-media-loader-core");
const lib = (p) => import(path.join(root, "lib", p));

const commands = await lib("p2p/commands/index.js");
const { BinaryCommandCreator } = await lib("p2p/commands/binary-command-creator.js");
const { generateStreamShortId, getStreamSwarmId } = await lib("utils/stream.js");
const { getStreamHash } = await lib("utils/peer.js");
const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"))).version;

const hex = (u8) => Buffer.from(u8).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));

function encode(command, max) {
  if (command.c <= 5) return commands.serializePeerCommand(command, max).map(hex);
  // Extension codes: the real creator, fields in the object's key order.
  const creator = new BinaryCommandCreator(command.c, max);
  for (const [name, value] of Object.entries(command)) {
    if (name === "c") continue;
    if (Array.isArray(value)) creator.addSimilarIntArr(name, value);
    else if (typeof value === "string") creator.addString(name, value);
    else creator.addInteger(name, value);
  }
  creator.complete();
  return creator.getResultBuffers().map(hex);
}

function decode(messages) {
  let decoded;
  let error;
  const joiner = new commands.BinaryCommandChunksJoiner((buf) => {
    try {
      decoded = commands.deserializeCommand(buf);
    } catch (e) {
      error = String(e?.message ?? e);
    }
  });
  for (const m of messages) {
    const bytes = unhex(m);
    if (!commands.isCommandChunk(bytes)) return { error: "not a command chunk" };
    try {
      joiner.addCommandChunk(bytes);
    } catch (e) {
      return { error: "joining: " + (e.type ?? e.message) };
    }
  }
  if (error) return { error };
  return decoded ? { decoded } : { error: "incomplete" };
}

// Fresh random commands on every run, shaped like real traffic: live MSNs,
// VOD positions, DASH time ids, long runs that span many 256-blocks.
const rnd = (n) => Math.floor(Math.random() * n);
const pick = (xs) => xs[rnd(xs.length)];
function randomId() {
  return pick([() => rnd(1000), () => 1_700_000_000 + rnd(100_000), () => rnd(2 ** 53), () => -rnd(70_000)])();
}
function randomIds() {
  const ids = [];
  for (let run = rnd(3); run > 0; run--) {
    const start = randomId();
    const step = pick([1, 1, 1, 2, 4]);
    for (let i = rnd(700); i > 0; i--) ids.push(start + ids.length * step);
  }
  for (let i = rnd(20); i > 0; i--) ids.push(randomId());
  return ids.filter((x) => Number.isSafeInteger(x));
}
function randomCommand() {
  const c = rnd(6);
  const i = randomId();
  const r = rnd(1000);
  switch (c) {
    case 0:
      return { c, l: randomIds(), p: randomIds().slice(0, rnd(12)) };
    case 1:
      return { c, i, r, b: pick([0, rnd(65536), rnd(2 ** 31), rnd(2 ** 53)]) };
    case 2:
      return { c, i, s: pick([rnd(65536), rnd(4 * 2 ** 20), rnd(2 ** 53)]), r };
    default:
      return { c, i, r };
  }
}

function handle(req) {
  switch (req.op) {
    case "version":
      return { version };
    case "encode":
      return { messages: encode(req.command, req.max) };
    case "decode":
      return decode(req.messages);
    case "random": {
      const items = [];
      for (let k = 0; k < req.count; k++) {
        const command = randomCommand();
        const max = pick([65535, 65535, 16384, 1024, 64, 24, 12, 3]);
        const messages = encode(command, max);
        items.push({ command, max, messages, ...decode(messages) });
      }
      return { items };
    }
    case "identity": {
      const index = generateStreamShortId(req.props);
      const streamSwarmId = getStreamSwarmId(req.swarmId, { type: req.type, index });
      return { index, streamSwarmId, infoHash: getStreamHash(streamSwarmId) };
    }
    default:
      return { error: "unknown op " + req.op };
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let reply;
  try {
    reply = handle(JSON.parse(line));
  } catch (e) {
    reply = { error: "oracle: " + String(e?.stack ?? e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
