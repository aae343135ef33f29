export * from "./config.js";
export * from "./presets.js";
export * from "./param-count.js";
export * from "./posembed.js";
export * from "./weights.js";
export * from "./vit.js";
export * from "./hf-config.js";
