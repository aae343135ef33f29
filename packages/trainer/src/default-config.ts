import { fileURLToPath } from "node:url";

/**
 * The default job's config (conf/fashion_mnist_tiny.yaml, shipped with this package): a tiny ViT on the
 * bundled Fashion-MNIST. `loadConfig(DEFAULT_CONFIG_PATH, overrides)` starts from it; `vit train` uses it
 * when no --config is given. Both src/ and dist/ sit one level below the package root.
 */
export const DEFAULT_CONFIG_PATH: string = fileURLToPath(
  new URL("../conf/fashion_mnist_tiny.yaml", import.meta.url),
);
