#!/usr/bin/env node
/**
 * Prints the first TypeScript/JavaScript code block (```ts, ```typescript, ```js, ```mjs) of a README:
 *
 *   node tooling/scripts/readme-example.mjs packages/tensor/README.md > tensor.ts
 *
 * The pack check runs each package's first example exactly as the README shows it, so the docs and the
 * check cannot drift apart. Exits 1 when the README has no such block.
 */
import { readFileSync } from "node:fs";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
const m = /^```(?:ts|typescript|js|javascript|mjs)[ \t]*\n([\s\S]*?)^```[ \t]*$/m.exec(text);
if (!m) {
  console.error(`${file}: no \`\`\`ts or \`\`\`js code block`);
  process.exit(1);
}
process.stdout.write(m[1]);
