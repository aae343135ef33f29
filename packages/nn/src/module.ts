/**
 * Module: the unit models are built from (torch.nn.Module). Holds named parameters, buffers and child
 * modules; parameters are tensors with requiresGrad. Names are dotted paths ("blocks.0.attn.qkv.weight")
 * so state dicts line up with timm/PyTorch checkpoints.
 */
import { type DType, type Tensor, VitError, bytesPerElement, tensor as makeTensor } from "@vit/tensor";
import type { HostTensor, SafetensorsDtype } from "./safetensors.js";
import { toFloat32Array } from "./safetensors.js";

export class StateDictError extends VitError {
  constructor(
    message: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: Array<{ key: string; expected: number[]; got: number[] }>,
    hint?: string,
  ) {
    super(message, { hint });
  }
}

export type StateSource = Record<string, HostTensor | Tensor>;

const FLOAT_FILE_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16", "F64"];
const INT_FILE_DTYPES: readonly SafetensorsDtype[] = ["I32", "I64", "U8"];

/**
 * Why a stored tensor cannot be loaded into a tensor of `dtype`, or null when it can. Floats convert by
 * value between widths (F16/BF16 widen exactly); integer-labelled data for a float tensor (or the reverse)
 * means the label and the bytes disagree, and converting by value would load garbage silently.
 */
function hostDtypeProblem(src: HostTensor | Tensor, dtype: DType): string | null {
  if ((src as Tensor).isTensor) {
    // Device tensors are copied byte for byte: only the same dtype is the same bytes.
    const d = (src as Tensor).dtype;
    return d === dtype ? null : `is a ${d} tensor, the model's is ${dtype}`;
  }
  const d = (src as HostTensor).dtype;
  const float = dtype === "f32" || dtype === "f16" || dtype === "bf16";
  const allowed = float ? FLOAT_FILE_DTYPES : INT_FILE_DTYPES;
  return allowed.includes(d)
    ? null
    : `is stored as ${d}, but the model's ${dtype} tensor needs ${allowed.join("/")}`;
}

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  /** Registers (or replaces) a parameter; marks it as requiring grad and names it. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this._params.set(name, t);
    return t;
  }

  /** The registered parameter `name` of this module (not of children). */
  protected param(name: string): Tensor {
    const t = this._params.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no parameter "${name}"`); // bug, not user input
    return t;
  }

  /**
   * Replaces the parameters selected by `filter` (dotted name, tensor) with `convert(t)` — e.g. bf16
   * storage for Megatron's O2 — disposing the old tensors. Layers read their parameters through the
   * registry, so the new tensors take effect at once. Returns the names replaced.
   */
  replaceParameters(filter: (name: string, t: Tensor) => boolean, convert: (t: Tensor) => Tensor, prefix = ""): string[] {
    const done: string[] = [];
    for (const [n, t] of [...this._params]) {
      if (!filter(prefix + n, t)) continue;
      const nt = convert(t);
      nt.requiresGrad = t.requiresGrad;
      nt.name = t.name ?? prefix + n;
      this._params.set(n, nt);
      t.dispose();
      done.push(prefix + n);
    }
    for (const [n, c] of this._children) done.push(...c.replaceParameters(filter, convert, `${prefix}${n}.`));
    return done;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this._buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** Parameters of this module and its descendants, with dotted names, in registration order. */
  namedParameters(prefix = ""): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [n, p] of this._params) out.push([prefix + n, p]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ""): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [n, b] of this._buffers) out.push([prefix + n, b]);
    for (const [n, c] of this._children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  children(): Array<[string, Module]> {
    return [...this._children];
  }

  /** Every module in the tree (self first). */
  modules(): Module[] {
    return [this, ...[...this._children.values()].flatMap((c) => c.modules())];
  }

  /** Training mode switches dropout on (and is inherited by children). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Names every parameter tensor after its path (used in error messages). */
  nameParameters(): this {
    for (const [n, p] of this.namedParameters()) p.name = n;
    return this;
  }

  /** Parameters and buffers by name (live tensors, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copies the state to the host as f32 safetensors-ready tensors. */
  async stateDictHost(): Promise<Record<string, HostTensor>> {
    const out: Record<string, HostTensor> = {};
    for (const [n, t] of Object.entries(this.stateDict())) {
      const data = await t.data();
      out[n] = t.dtype === "i32"
        ? { dtype: "I32", shape: [...t.shape], data: data as Int32Array }
        : { dtype: "F32", shape: [...t.shape], data: Float32Array.from(data as Float32Array) };
    }
    return out;
  }

  /**
   * Loads values into the existing tensors (identity is kept, so optimizer references stay valid).
   * Every missing, unexpected and shape-mismatched key is reported in one StateDictError; with
   * strict = false, missing and unexpected keys are tolerated (shape mismatches never are).
   */
  loadStateDict(sd: StateSource, strict = true): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in sd));
    const unexpected = Object.keys(sd).filter((k) => !(k in own));
    const mismatched: Array<{ key: string; expected: number[]; got: number[] }> = [];
    const badDtypes: string[] = [];
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (src && (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i]))) {
        mismatched.push({ key: k, expected: [...t.shape], got: [...src.shape] });
      }
      const problem = src && hostDtypeProblem(src, t.dtype);
      if (problem) badDtypes.push(`${k} ${problem}`);
    }
    if (mismatched.length || badDtypes.length || (strict && (missing.length || unexpected.length))) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.slice(0, 20).join(", ")}`);
      if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.slice(0, 20).join(", ")}`);
      if (mismatched.length) {
        parts.push(`shape mismatches: ${mismatched.map((m) => `${m.key} expects [${m.expected}] but got [${m.got}]`).join("; ")}`);
      }
      if (badDtypes.length) parts.push(`dtype mismatches: ${badDtypes.slice(0, 20).join("; ")}`);
      throw new StateDictError(
        `loadStateDict: the state does not fit this ${this.constructor.name}: ${parts.join(" | ")}`,
        missing,
        unexpected,
        mismatched,
        "check the checkpoint's model config (or convert its key names with `vit convert`); pass strict = false to load a subset",
      );
    }
    for (const [k, t] of Object.entries(own)) {
      const src = sd[k];
      if (!src) continue;
      if ((src as Tensor).isTensor) {
        const s = src as Tensor;
        t.device.copy(s.buffer, 0, t.buffer, 0, byteSize(t));
      } else {
        const h = src as HostTensor;
        const vals = t.dtype === "i32" ? Int32Array.from(h.data as ArrayLike<number>) : toFloat32Array(h);
        const tmp = makeTensor(t.device, vals, t.shape, { dtype: t.dtype });
        t.device.copy(tmp.buffer, 0, t.buffer, 0, byteSize(t));
        tmp.dispose();
      }
    }
    return { missing, unexpected };
  }

  /** Frees every parameter and buffer (and their gradients). */
  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
    for (const [, b] of this.namedBuffers()) b.dispose();
  }

  /** Extra text inside the printed representation (torch's extra_repr). */
  extraRepr(): string {
    return "";
  }

  toString(indent = ""): string {
    const kids = [...this._children];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const inner = kids.map(([n, c]) => `${indent}  (${n}): ${c.toString(`${indent}  `)}`).join("\n");
    return `${head}\n${inner}\n${indent})`;
  }
}

function byteSize(t: Tensor): number {
  return Math.max(4, Math.ceil((t.numel * bytesPerElement(t.dtype)) / 4) * 4);
}

/** Total number of parameter elements. */
export function numParameters(m: Module): number {
  return m.parameters().reduce((a, p) => a + p.numel, 0);
}
