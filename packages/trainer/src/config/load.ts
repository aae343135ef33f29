/**
 * Reads a YAML config, applies `key=value` overrides (dotted paths, values parsed as YAML scalars), resolves
 * OmegaConf interpolations and validates it. Errors name the file, the key path and the fix; nothing is
 * silently ignored.
 */
import { readFileSync } from "node:fs";
import { VitError } from "@vit/tensor";
import { parse as parseYaml } from "yaml";
import type { ZodError } from "zod";
import { InterpolationError, resolveInterpolations } from "./interpolate.js";
import { type TrainConfig, configSchema } from "./schema.js";

/** A config file or override that cannot work; the message names the key path and the fix. */
export class ConfigError extends VitError {}

/** Keys that would reach Object.prototype (or a constructor) through a plain-object assignment. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function refuseKey(key: string, where: string): never {
  throw new ConfigError(
    `${where}: the key "${key}" is not allowed in a config (it names an object internal); remove it.`,
  );
}

/** Applies overrides like `model.num_layers=4 trainer.max_steps=100` to a plain object (in place). */
export function applyOverrides(cfg: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  for (const o of overrides) {
    const eq = o.indexOf("=");
    if (eq <= 0) throw new ConfigError(`override "${o}" is not key=value (e.g. model.num_layers=4).`);
    const path = o.slice(0, eq).replace(/^\+/, "").split(".");
    for (const k of path) {
      if (FORBIDDEN_KEYS.has(k)) refuseKey(k, `override "${o}"`);
      if (k === "")
        throw new ConfigError(
          `override "${o}": empty key in "${o.slice(0, eq)}"; write e.g. model.num_layers=4.`,
        );
    }
    let value: unknown;
    try {
      value = parseYaml(o.slice(eq + 1));
    } catch {
      value = o.slice(eq + 1);
    }
    checkKeys(value, `override "${o}"`);
    let node = cfg;
    path.slice(0, -1).forEach((k, i) => {
      const next = Object.hasOwn(node, k) ? node[k] : undefined;
      if (next === undefined || next === null) node[k] = {};
      else if (typeof next !== "object" || Array.isArray(next)) {
        throw new ConfigError(`override "${o}": ${path.slice(0, i + 1).join(".")} is not a section.`);
      }
      node = node[k] as Record<string, unknown>;
    });
    node[path[path.length - 1]!] = value;
  }
  return cfg;
}

/** Refuses __proto__ / constructor / prototype keys anywhere in a parsed tree (YAML or override values). */
function checkKeys(v: unknown, where: string, path = ""): void {
  if (typeof v !== "object" || v === null) return;
  for (const k of Object.keys(v)) {
    const p = path ? `${path}.${k}` : k;
    if (FORBIDDEN_KEYS.has(k)) refuseKey(k, `${where}: ${p}`);
    checkKeys((v as Record<string, unknown>)[k], where, p);
  }
}

/** Refuses non-finite numbers (YAML's .inf, -.inf, .nan) wherever they appear. */
function checkFinite(v: unknown, source: string, path = ""): void {
  if (typeof v === "number" && !Number.isFinite(v)) {
    throw new ConfigError(
      `${source}: ${path || "(root)"}: ${v} is not a finite number; give a finite value.`,
    );
  }
  if (typeof v !== "object" || v === null) return;
  for (const [k, x] of Object.entries(v))
    checkFinite(x, source, Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
}

/** null is OmegaConf's "unset": drop null mapping values so that defaults apply (lists keep theirs). */
function dropNulls(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) return v.map(dropNulls);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

const section = (o: Record<string, unknown>, k: string): Record<string, unknown> | undefined => {
  const v = o[k];
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
};

/**
 * NeMo keys that live elsewhere here: model.seed is the run's seed (trainer.seed), the top-level
 * restore_from_path is model.restore_from_path.
 */
function moveNeMoKeys(raw: Record<string, unknown>, source: string): Record<string, unknown> {
  const model = section(raw, "model");
  if (!model) return raw;
  const agree = (value: unknown, current: unknown, from: string, to: string) => {
    if (current !== undefined && current !== value) {
      throw new ConfigError(
        `${source}: ${from} ${JSON.stringify(value)} conflicts with ${to} ${JSON.stringify(current)}; set one of them.`,
      );
    }
  };
  const { restore_from_path: restore, ...out } = raw;
  const { seed, ...rest } = model;
  if (restore !== undefined) {
    agree(restore, rest.restore_from_path, "restore_from_path", "model.restore_from_path");
    rest.restore_from_path = restore;
  }
  out.model = rest;
  const trainer = raw.trainer === undefined ? {} : section(raw, "trainer");
  if (seed !== undefined && trainer) {
    agree(seed, trainer.seed, "model.seed", "trainer.seed");
    out.trainer = { ...trainer, seed };
  }
  return out;
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

/**
 * Validates a plain object as a TrainConfig: refuses object-internal keys and non-finite numbers, resolves
 * interpolations (`${...}`, `???`), treats null as unset, maps NeMo's relocated keys, then checks the schema.
 */
export function parseConfig(raw: unknown, source = "config"): TrainConfig {
  checkKeys(raw, source);
  let resolved: unknown;
  try {
    resolved = resolveInterpolations(raw);
  } catch (e) {
    if (e instanceof InterpolationError) throw new ConfigError(`${source}: ${e.message}`);
    throw e;
  }
  checkFinite(resolved, source);
  let cleaned = dropNulls(resolved);
  if (typeof cleaned === "object" && cleaned !== null && !Array.isArray(cleaned)) {
    cleaned = moveNeMoKeys(cleaned as Record<string, unknown>, source);
  }
  const r = configSchema.safeParse(cleaned);
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
  checkKeys(raw, path);
  return parseConfig(applyOverrides(raw as Record<string, unknown>, overrides), path);
}
