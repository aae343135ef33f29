/** The browser build's stand-in for ./dawn.ts: browsers have navigator.gpu, and no Dawn to load. */
import { NoAdapterError } from "./errors.js";

export function loadDawn(_dawnToggles: string[]): Promise<GPU> {
  return Promise.reject(
    new NoAdapterError(
      "This is the browser build of @vit/tensor (the package's `browser` export); in Node import its default " +
        "export, which loads Dawn (npm package `webgpu`).",
    ),
  );
}
