import { fileURLToPath } from "node:url";

/** Where test/global-setup.ts bundles index.js and worker.js. */
export const testBuildDir = fileURLToPath(new URL("../../node_modules/.cache/vit-data-test/", import.meta.url));
