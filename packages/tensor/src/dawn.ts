/** Node only: Dawn's WebGPU (npm package `webgpu`), imported lazily on first use. */
import { NoAdapterError } from "./errors.js";

let nodeGPU: Promise<GPU> | undefined;

export function loadDawn(dawnToggles: string[]): Promise<GPU> {
  nodeGPU ??= (async () => {
    let mod: { create: (opts: string[]) => GPU; globals: object };
    try {
      mod = (await import("webgpu")) as unknown as typeof mod;
    } catch (e) {
      throw new NoAdapterError(
        `Could not load the npm package "webgpu" (Dawn for Node): ${(e as Error).message}. ` +
          "Install it with `pnpm add webgpu` on a supported platform (linux/darwin/win32, x64/arm64).",
      );
    }
    // GPUBufferUsage, GPUMapMode, ... must exist as globals for code written against the web API.
    Object.assign(globalThis, mod.globals);
    const toggles = dawnToggles.length ? [`enable-dawn-features=${dawnToggles.join(",")}`] : [];
    return mod.create(toggles);
  })();
  return nodeGPU;
}
