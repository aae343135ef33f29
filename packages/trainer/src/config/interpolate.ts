/**
 * OmegaConf interpolation over a plain config tree, for NeMo's YAML files:
 * - `${trainer.precision}`: absolute key path (`a.b.0` or `a.b[0]` index lists);
 * - `${.encoder_seq_length}`: relative to the mapping that holds the key; each further dot goes one
 *   mapping up (`${..name}` is a key of the parent);
 * - `${multiply:${a}, ${b}}`: a resolver call; arguments are interpolations, quoted strings or YAML
 *   scalars, and calls nest. The resolvers are those NeMo registers (multiply in NeMo's ModelPT; int_div,
 *   subtract, add, not in NeMo's training scripts and NeMo-Aligner);
 * - a value that is exactly one interpolation keeps its type; inside a longer string it is spliced in as
 *   text (`run_${trainer.max_steps}`); `\${` is a literal `${`;
 * - `???` is a value the user must give: any left after the overrides is an error naming the key.
 * Cycles are errors naming the chain. Keys are looked up as own properties only.
 */
import { parse as parseYaml } from "yaml";

/** What a user wrote wrong in an interpolation; load.ts turns it into a ConfigError. */
export class InterpolationError extends Error {
  override name = "InterpolationError";
  /** Whether the message already names the key it is about. */
  located = false;
}

function located(message: string): InterpolationError {
  const e = new InterpolationError(message);
  e.located = true;
  return e;
}

export const MISSING = "???";

type Node = Record<string, unknown> | unknown[];
type Path = Array<string | number>;

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null;
const show = (p: Path) =>
  p.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("") || "(root)";

function num(name: string, v: unknown): number {
  if (typeof v !== "number")
    throw new InterpolationError(`\${${name}:...}: arguments must be numbers, got ${JSON.stringify(v)}`);
  return v;
}

/** NeMo's registered resolvers, with Python's semantics (int_div is floor division, `//`). */
const RESOLVERS: Record<string, (args: unknown[]) => unknown> = {
  multiply: (a) => num("multiply", a[0]) * num("multiply", a[1]),
  int_div: (a) => {
    const d = num("int_div", a[1]);
    if (d === 0) throw new InterpolationError("${int_div:...}: division by zero");
    return Math.floor(num("int_div", a[0]) / d);
  },
  add: (a) => a.reduce<number>((s, x) => s + num("add", x), 0),
  subtract: (a) => num("subtract", a[0]) - num("subtract", a[1]),
  not: (a) => !a[0],
};
const ARITY: Record<string, number | null> = { multiply: 2, int_div: 2, add: null, subtract: 2, not: 1 };

/** A parsed `${...}` body or a piece of text. */
type Expr =
  | { kind: "text"; text: string; quoted?: boolean }
  | { kind: "ref"; dots: number; path: Path }
  | { kind: "call"; name: string; args: Expr[][] };

class Parser {
  pos = 0;
  constructor(readonly src: string) {}

  fail(msg: string): never {
    throw new InterpolationError(`cannot parse "${this.src}": ${msg}`);
  }

  /** Text with interpolations, up to one of `stops` at depth 0 (or the end). */
  parseParts(stops: string): Expr[] {
    const parts: Expr[] = [];
    let text = "";
    const flush = () => {
      if (text) parts.push({ kind: "text", text });
      text = "";
    };
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === "\\" && this.src.startsWith("${", this.pos + 1)) {
        text += "${";
        this.pos += 3;
      } else if (this.src.startsWith("${", this.pos)) {
        flush();
        this.pos += 2;
        parts.push(this.parseBody());
      } else if (stops.includes(c)) break;
      else if (stops && (c === "'" || c === '"')) {
        // A quoted resolver argument: its text, verbatim.
        const end = this.src.indexOf(c, this.pos + 1);
        if (end < 0) this.fail("unterminated quote");
        flush();
        parts.push({ kind: "text", text: this.src.slice(this.pos + 1, end), quoted: true });
        this.pos = end + 1;
      } else {
        text += c;
        this.pos++;
      }
    }
    flush();
    return parts;
  }

  /** After `${`: a key path or a resolver call, through the closing `}`. */
  parseBody(): Expr {
    const start = this.pos;
    const close = () => {
      if (this.src[this.pos] !== "}") this.fail(`expected "}" at position ${this.pos}`);
      this.pos++;
    };
    const m = /^\s*([A-Za-z_][\w.]*)\s*:/.exec(this.src.slice(this.pos));
    if (m) {
      this.pos += m[0].length;
      const args: Expr[][] = [];
      for (;;) {
        args.push(this.parseParts(",}"));
        if (this.src[this.pos] === ",") this.pos++;
        else break;
      }
      close();
      if (args.length === 1 && args[0]!.length === 0) args.pop();
      return { kind: "call", name: m[1]!, args };
    }
    const end = this.src.indexOf("}", this.pos);
    if (end < 0) this.fail('missing "}"');
    const key = this.src.slice(start, end).trim();
    this.pos = end + 1;
    const dots = /^\.*/.exec(key)![0].length;
    const rest = key.slice(dots);
    if (!/^([\w-]+|\[\d+\])(\.[\w-]+|\[\d+\])*$/.test(rest) && !(dots > 0 && rest === "")) {
      this.fail(`"${key}" is not a key path (write e.g. \${model.hidden_size} or \${.encoder_seq_length})`);
    }
    const path: Path = [];
    for (const [, name, index] of rest.matchAll(/([\w-]+)|\[(\d+)\]/g)) {
      path.push(index !== undefined ? Number(index) : /^\d+$/.test(name!) ? Number(name) : name!);
    }
    return { kind: "ref", dots, path };
  }
}

function parseScalar(text: string): unknown {
  try {
    return parseYaml(text);
  } catch {
    return text;
  }
}

/** A copy of `root` with every interpolation resolved; throws InterpolationError on `???`, cycles, bad keys. */
export function resolveInterpolations<T>(root: T): T {
  const resolved = new Map<string, unknown>();
  const active: string[] = [];
  const missing: string[] = [];

  const child = (node: unknown, k: string | number): { ok: boolean; value?: unknown } => {
    if (Array.isArray(node) && typeof k === "number")
      return k < node.length ? { ok: true, value: node[k] } : { ok: false };
    if (isNode(node) && !Array.isArray(node) && Object.hasOwn(node, String(k)))
      return { ok: true, value: node[String(k)] };
    return { ok: false };
  };

  /** The resolved value at `path` (a whole subtree when it is a mapping or list). */
  const valueAt = (path: Path, from: Path): unknown => {
    let node: unknown = root;
    for (let i = 0; i < path.length; i++) {
      const c = child(node, path[i]!);
      if (!c.ok) {
        throw located(
          `${show(from)}: the interpolation refers to ${show(path)}, but ${show(path.slice(0, i + 1))} does not exist`,
        );
      }
      // A key whose value is itself an interpolation to a section: follow it.
      node = i < path.length - 1 && typeof c.value === "string" ? resolveAt(path.slice(0, i + 1)) : c.value;
    }
    return resolveAt(path);
  };

  const resolveAt = (path: Path): unknown => {
    let node: unknown = root;
    for (const k of path) node = child(node, k).value;
    const id = show(path);
    if (isNode(node)) {
      const out: Node = Array.isArray(node) ? [] : {};
      for (const k of Array.isArray(node) ? node.keys() : Object.keys(node)) {
        (out as Record<string, unknown>)[k] = resolveAt([...path, k]);
      }
      return out;
    }
    if (typeof node !== "string") return node;
    if (resolved.has(id)) return resolved.get(id);
    if (node === MISSING) {
      if (active.length > 0) {
        throw located(
          `${active[active.length - 1]} refers to ${id}, which is ??? (a value you must give): add ${id}=<value> to the command line`,
        );
      }
      missing.push(id);
      return node;
    }
    if (!node.includes("${")) return node.replace(/\\\$\{/g, "${");
    if (active.includes(id)) {
      throw located(`interpolation cycle: ${[...active.slice(active.indexOf(id)), id].join(" → ")}`);
    }
    active.push(id);
    try {
      const parser = new Parser(node);
      const parts = parser.parseParts("");
      const value = evalParts(parts, path);
      resolved.set(id, value);
      return value;
    } catch (e) {
      if (e instanceof InterpolationError && !e.located) throw located(`${id}: ${e.message}`);
      throw e;
    } finally {
      active.pop();
    }
  };

  const evalParts = (parts: Expr[], at: Path): unknown => {
    if (parts.length === 1 && parts[0]!.kind !== "text") return evalExpr(parts[0]!, at);
    return parts
      .map((p) => {
        const v = evalExpr(p, at);
        if (isNode(v)) throw new InterpolationError(`a section cannot be spliced into text ("${show(at)}")`);
        return String(v);
      })
      .join("");
  };

  const evalExpr = (e: Expr, at: Path): unknown => {
    switch (e.kind) {
      case "text":
        return e.text;
      case "ref": {
        // The mapping holding the key is at.slice(0, -1); each dot after the first goes one level up.
        let base: Path = [];
        if (e.dots > 0) {
          const up = e.dots - 1;
          const holder = at.slice(0, -1);
          if (up > holder.length) {
            throw new InterpolationError(
              `\${${".".repeat(e.dots)}${e.path.join(".")}} goes above the top of the config`,
            );
          }
          base = holder.slice(0, holder.length - up);
        }
        return valueAt([...base, ...e.path], at);
      }
      case "call": {
        const fn = RESOLVERS[e.name];
        if (!fn) {
          throw new InterpolationError(
            `unknown resolver "${e.name}" (supported: ${Object.keys(RESOLVERS).join(", ")})`,
          );
        }
        const args = e.args.map((parts) => {
          const ps = trimText(parts);
          const only = ps.length === 1 ? ps[0]! : null;
          if (only?.kind === "text") return only.quoted ? only.text : parseScalar(only.text);
          return evalParts(ps, at);
        });
        const n = ARITY[e.name];
        if (n !== null && n !== undefined && args.length !== n) {
          throw new InterpolationError(`\${${e.name}:...} takes ${n} argument(s), got ${args.length}`);
        }
        return fn(args);
      }
    }
  };

  const out = resolveAt([]) as T;
  if (missing.length > 0) {
    throw new InterpolationError(
      `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} ??? (a value you must give): add ${missing
        .map((m) => `${m}=<value>`)
        .join(" ")} to the command line`,
    );
  }
  return out;
}

/** Resolver arguments ignore the spaces around them (`${multiply:${a}, ${b}}`). */
function trimText(parts: Expr[]): Expr[] {
  const out = parts.map((p) => ({ ...p }));
  const first = out[0];
  const last = out[out.length - 1];
  if (first?.kind === "text" && !first.quoted) first.text = first.text.trimStart();
  if (last?.kind === "text" && !last.quoted) last.text = last.text.trimEnd();
  return out.filter((p) => p.kind !== "text" || p.quoted || p.text !== "");
}
