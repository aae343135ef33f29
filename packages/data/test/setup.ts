import { join } from "node:path";
import { testBuildDir } from "./helpers/paths.js";

// The loader starts this bundled worker instead of looking for dist/worker.js next to the TS sources.
process.env.VIT_DATA_WORKER = join(testBuildDir(), "worker.js");
