// Writes every vector of the CCTV age testkit (npm `cctv-age`) to <outdir>/<name>, in the
// testkit format (header lines, a blank line, the age file) with zlib-compressed age files
// inflated and their `compressed:` line dropped. Prints the number of vectors written.
import * as vectors from "cctv-age";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";

const outdir = process.argv[2];
if (!outdir) throw new Error("usage: cctv-dump.mjs <outdir>");
mkdirSync(outdir, { recursive: true });
let n = 0;
for (const [name, bytes] of Object.entries(vectors)) {
  if (name === "default") continue;
  const buf = Buffer.from(bytes);
  const split = buf.indexOf("\n\n");
  if (split < 0) throw new Error(`${name}: no blank line after the header`);
  const lines = buf.subarray(0, split).toString("latin1").split("\n");
  let body = buf.subarray(split + 2);
  const compressed = lines.find((l) => l.startsWith("compressed: "));
  if (compressed) {
    if (compressed !== "compressed: zlib") throw new Error(`${name}: ${compressed}`);
    body = inflateSync(body);
  }
  const header = lines.filter((l) => !l.startsWith("compressed: ")).join("\n");
  writeFileSync(join(outdir, name), Buffer.concat([Buffer.from(header + "\n\n", "latin1"), body]));
  n++;
}
console.log(n);
