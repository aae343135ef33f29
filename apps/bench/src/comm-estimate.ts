/** Prints docs/distributed.md's communication estimates (comm/estimate.ts) as markdown. */
import { estimateTables } from "./comm/estimate.js";

console.log(estimateTables());
