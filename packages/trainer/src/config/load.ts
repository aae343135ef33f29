/**
 * Reads a YAML config, applies `key=value` overrides (dotted paths, values parsed as YAML scalars) and
 * validates it. Errors name the file, the key path and the fix; nothing is silently ignored.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { ZodError } from "zod";
import { type TrainConfig, configSchema } from "./schema.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Applies overrides like `model.num_layers=4 trainer.max_steps=100` to a plain object (in place). */
export function applyOverrides(cfg: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  for (const o of overrides) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw new ConfigError(`override "${o}" is not key=value (e.g. model.num_layers=4).`);
    const path = o.slice(0, eq).replace(/^\+/, "").split(".");
    let value: unknown;
    try {
      value = parseYaml(o.slice(eq + 1));
    } catch {
      value = o.slice(eq + 1);
    }
    let node = cfg;
    path.slice(0, -1).forEach((k) => {
      const next = node[k];
      if (next === undefined || next === null) node[k] = {};
      else if (typeof next !== "object" || Array.isArray(next)) {
        throw new ConfigError(
          `override "${o}": ${path.slice(0, path.indexOf(k) + 1).join(".")} is not a section.`,
        );
      }
      node = node[k] as Record<string, unknown>;
    });
    node[path[path.length - 1]!] = value;
  }
  return cfg;
}

function formatZod(e: ZodError, source: string): string {
  return e.issues
    .map((i) => {
      const key = i.path.join(".") || "(root)";
      if (i.code === "unrecognized_keys") {
        return `${source}: unknown key(s) ${i.keys.map((k) => `${key === "(root)" ? "" : `${key}.`}${k}`).join(", ")} — check the spelling against conf/*.yaml`;
      }
      return `${source}: ${key}: ${i.message}`;
    })
    .join("\n");
}

/** Validates a plain object as a TrainConfig. */
export function parseConfig(raw: unknown, source = "config"): TrainConfig {
  const r = configSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(formatZod(r.error, source));
  return r.data;
}

export function loadConfig(path: string, overrides: string[] = []): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(
      `cannot read config ${path}: ${(e as Error).message}. Pass --config with a YAML file (see conf/).`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`${path} is not valid YAML: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(`${path}: the top level must be a mapping.`);
  return parseConfig(applyOverrides(raw as Record<string, unknown>, overrides), path);
}
