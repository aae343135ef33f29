import { join } from "node:path";
import { testBuildDir } from "./helpers/paths.js";

process.env.VIT_DATA_WORKER = join(testBuildDir, "worker.js");
