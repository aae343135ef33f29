/** Suite name → implementation. */
import type { Suite } from "./types.js";

export const SUITES: Record<string, Suite> = {};
