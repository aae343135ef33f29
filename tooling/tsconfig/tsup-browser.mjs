// The `browser` build of a package (dist/browser.js, its package.json `browser` export): the same entry as
// the Node build, except that a module with a sibling `NAME.browser.ts` (e.g. src/dawn.ts and
// src/dawn.browser.ts) is replaced by that sibling. Node-only pieces (native addons, node:fs) stay out of
// web bundles while the package keeps one entry and one export list.
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const swapBrowserSiblings = {
  name: "browser-siblings",
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (a) => {
      const sibling = resolve(a.resolveDir, a.path.replace(/\.js$/, ".browser.ts"));
      return existsSync(sibling) ? { path: sibling } : undefined;
    });
  },
};

/** tsup options for dist/browser.js built from `entry` (default src/index.ts). */
export function browserBuild(entry = "src/index.ts") {
  return {
    entry: { browser: entry },
    format: ["esm"],
    dts: false,
    sourcemap: true,
    clean: false,
    platform: "browser",
    target: "es2022",
    esbuildPlugins: [swapBrowserSiblings],
  };
}
