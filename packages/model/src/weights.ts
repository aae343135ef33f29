/**
 * Weight import/export between our layout ('vit', see param-count.ts) and timm, Hugging Face
 * (ViTForImageClassification) and NeMo (MegatronVitClassificationModel) state dicts, on host tensors.
 * Like timm's `checkpoint_filter_fn`, this is the only place that knows foreign formats.
 *
 * Layout differences handled here:
 * - Patch embedding: timm/HF use a stride-P conv, weight [D, C, P, P]; ours and NeMo's `linear_encoder`
 *   are a Linear over the patch flattened as (p1 p2 c), weight [D, P·P·C] = the conv weight permuted to
 *   [D, P, P, C]. Element W_conv[o, c, i, j] ↔ W_ours[o, (i·P + j)·C + c].
 * - Fused QKV: ours/timm stack q, k, v along the output dim: row s·D + h·hd + d (s ∈ {q,k,v}, head h).
 *   HF stores three separate Linears (rows h·hd + d of each). Megatron/NeMo's `query_key_value`
 *   interleaves per head, [heads, 3, hd]: row h·3·hd + s·hd + d (its forward views the output as
 *   [..., np, 3·hn] and splits the last dim in three).
 * - Position embedding: NeMo's is an nn.Embedding, `position_embeddings.weight` [S, D]; ours [1, S, D].
 * - Heads: ours `pre_logits.fc` + `head` (mlp_tanh) ↔ NeMo `head.dense_in` + `head.dense_out`;
 *   linear head ↔ timm `head`, HF `classifier`, NeMo `head`. HF's classifier has no pre-logits layer,
 *   so an mlp_tanh model cannot be expressed in HF names (error rather than a silently wrong model).
 * Not covered: NeMo mcore/Transformer-Engine names (`linear_qkv`, `layer_norm_weight`), which
 * the Megatron-legacy vision backbone does not use.
 *
 * Tensors whose bytes need no change share their data with the input; the rest are new arrays.
 * Every conversion is a pure permutation of elements, so round trips are bit-identical in any dtype.
 */
import type { HostTensor, TypedArray } from "@vit/nn";
import { VitError } from "@vit/tensor";
import { type ViTConfig, headDim, projectionSize } from "./config.js";
import { type ParameterShape, parameterShapes } from "./param-count.js";

export type WeightFormat = "vit" | "timm" | "hf" | "nemo";
export type StateDict = Record<string, HostTensor>;

/** Weights whose names or shapes do not map onto the model (wrong format, architecture or resolution). */
export class WeightMappingError extends VitError {}

export interface WeightMappingOptions {
  /** Reject keys that map to no parameter (default true); false ignores them. */
  strict?: boolean;
  /** NeMo only: prefix of the model's keys, "model." in .nemo checkpoints (default). */
  prefix?: string;
}

type Transform = (inputs: HostTensor[]) => HostTensor[];
interface Rule {
  ours: ParameterShape[];
  foreign: ParameterShape[];
  toForeign: Transform;
  fromForeign: Transform;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function withData(like: HostTensor, shape: number[], data: TypedArray): HostTensor {
  return { dtype: like.dtype, shape: [...shape], data } as HostTensor;
}

function allocLike(data: TypedArray, length: number): TypedArray {
  return new (data.constructor as new (n: number) => TypedArray)(length);
}

/** Copies `data` viewed as `shape` into axis order `perm` (like torch.permute(...).contiguous()). */
export function permuteData(data: TypedArray, shape: readonly number[], perm: readonly number[]): TypedArray {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const stride = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const out = allocLike(data, data.length);
  const idx = new Array<number>(rank).fill(0);
  const dst = out as unknown as { [i: number]: number | bigint };
  const src = data as unknown as { [i: number]: number | bigint };
  let inOff = 0;
  for (let o = 0; o < out.length; o++) {
    dst[o] = src[inOff]!;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      inOff += stride[ax]!;
      if (idx[ax]! < outShape[ax]!) break;
      inOff -= stride[ax]! * outShape[ax]!;
      idx[ax] = 0;
    }
  }
  return out;
}

/** out row r = data row srcRow(r), rows of `rowLen` elements. */
function gatherRows(data: TypedArray, rowLen: number, srcRow: (r: number) => number): TypedArray {
  const out = allocLike(data, data.length);
  const rows = data.length / rowLen;
  for (let r = 0; r < rows; r++) {
    const s = srcRow(r) * rowLen;
    (out as Float32Array).set((data as Float32Array).subarray(s, s + rowLen), r * rowLen);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rules

function rename(ours: ParameterShape, foreignName: string, foreignShape: number[] = ours.shape): Rule {
  return {
    ours: [ours],
    foreign: [{ name: foreignName, shape: foreignShape }],
    toForeign: ([t]) => [withData(t!, foreignShape, t!.data)],
    fromForeign: ([t]) => [withData(t!, ours.shape, t!.data)],
  };
}

/** Conv weight [D, C, P, P] ↔ Linear weight [D, P·P·C] in (p1 p2 c) order. */
function patchConv(ours: ParameterShape, foreignName: string, c: ViTConfig): Rule {
  const D = c.hidden_size;
  const P = c.patch_dim;
  const C = c.num_channels;
  const conv = [D, C, P, P];
  return {
    ours: [ours],
    foreign: [{ name: foreignName, shape: conv }],
    toForeign: ([t]) => [withData(t!, conv, permuteData(t!.data, [D, P, P, C], [0, 3, 1, 2]))],
    fromForeign: ([t]) => [withData(t!, ours.shape, permuteData(t!.data, conv, [0, 2, 3, 1]))],
  };
}

/** Our stacked qkv (weight [3D, D] or bias [3D]) ↔ HF's separate query/key/value. */
function qkvSplit(ours: ParameterShape, names: [string, string, string], c: ViTConfig): Rule {
  const D = c.hidden_size;
  const P = projectionSize(c);
  const part = ours.shape.length === 2 ? [P, D] : [P];
  const n = numel(part);
  return {
    ours: [ours],
    foreign: names.map((name) => ({ name, shape: part })),
    toForeign: ([t]) => [0, 1, 2].map((s) => withData(t!, part, t!.data.slice(s * n, (s + 1) * n))),
    fromForeign: (qkv) => {
      const dtypes = new Set(qkv.map((t) => t.dtype));
      if (dtypes.size !== 1) {
        throw new WeightMappingError(`${names.join(", ")} have different dtypes (${[...dtypes].join(", ")})`);
      }
      const out = allocLike(qkv[0]!.data, 3 * n);
      qkv.forEach((t, s) => (out as Float32Array).set(t.data as Float32Array, s * n));
      return [withData(qkv[0]!, ours.shape, out)];
    },
  };
}

/** Our [3, heads, hd] qkv rows ↔ Megatron's per-head interleaved [heads, 3, hd]. */
function qkvInterleave(ours: ParameterShape, foreignName: string, c: ViTConfig): Rule {
  const hd = headDim(c);
  const D = projectionSize(c); // rows per q/k/v block: heads × kv_channels
  const rowLen = ours.shape.length === 2 ? c.hidden_size : 1;
  // Megatron row m = h·3·hd + s·hd + d  ↔  our row r = s·D + h·hd + d
  const oursRowOfMegatron = (m: number) => {
    const h = Math.floor(m / (3 * hd));
    const s = Math.floor((m % (3 * hd)) / hd);
    return s * D + h * hd + (m % hd);
  };
  const megatronRowOfOurs = (r: number) => {
    const s = Math.floor(r / D);
    const h = Math.floor((r % D) / hd);
    return h * 3 * hd + s * hd + (r % hd);
  };
  return {
    ours: [ours],
    foreign: [{ name: foreignName, shape: ours.shape }],
    toForeign: ([t]) => [withData(t!, ours.shape, gatherRows(t!.data, rowLen, oursRowOfMegatron))],
    fromForeign: ([t]) => [withData(t!, ours.shape, gatherRows(t!.data, rowLen, megatronRowOfOurs))],
  };
}

const BLOCK = /^blocks\.(\d+)\.(.+)\.(weight|bias)$/;

function timmRule(p: ParameterShape, c: ViTConfig): Rule {
  return p.name === "patch_embed.proj.weight" ? patchConv(p, p.name, c) : rename(p, p.name);
}

const HF_BLOCK: Record<string, string> = {
  norm1: "layernorm_before",
  "attn.proj": "attention.output.dense",
  norm2: "layernorm_after",
  "mlp.fc1": "intermediate.dense",
  "mlp.fc2": "output.dense",
};

function hfRule(p: ParameterShape, c: ViTConfig): Rule {
  const m = BLOCK.exec(p.name);
  if (m) {
    const [, i, mod, kind] = m;
    const layer = `vit.encoder.layer.${i}`;
    if (mod === "attn.qkv") {
      const names = ["query", "key", "value"].map((s) => `${layer}.attention.attention.${s}.${kind}`);
      return qkvSplit(p, names as [string, string, string], c);
    }
    return rename(p, `${layer}.${HF_BLOCK[mod!]}.${kind}`);
  }
  switch (p.name) {
    case "cls_token":
      return rename(p, "vit.embeddings.cls_token");
    case "pos_embed":
      return rename(p, "vit.embeddings.position_embeddings");
    case "patch_embed.proj.weight":
      return patchConv(p, "vit.embeddings.patch_embeddings.projection.weight", c);
    case "patch_embed.proj.bias":
      return rename(p, "vit.embeddings.patch_embeddings.projection.bias");
    case "norm.weight":
    case "norm.bias":
      return rename(p, `vit.layernorm.${p.name.slice(5)}`);
    case "head.weight":
    case "head.bias":
      return rename(p, `classifier.${p.name.slice(5)}`);
  }
  throw new WeightMappingError(
    `'${p.name}' has no Hugging Face name: ViTForImageClassification's classifier is a single Linear, ` +
      `so head_type 'mlp_tanh' cannot be exported; use head_type 'linear' or timm/NeMo names`,
  );
}

const NEMO_BLOCK: Record<string, string> = {
  norm1: "input_layernorm",
  "attn.proj": "self_attention.dense",
  norm2: "post_attention_layernorm",
  "mlp.fc1": "mlp.dense_h_to_4h",
  "mlp.fc2": "mlp.dense_4h_to_h",
};

function nemoRule(p: ParameterShape, c: ViTConfig, prefix: string): Rule {
  const bb = `${prefix}backbone`;
  const m = BLOCK.exec(p.name);
  if (m) {
    const [, i, mod, kind] = m;
    const layer = `${bb}.transformer.layers.${i}`;
    if (mod === "attn.qkv") return qkvInterleave(p, `${layer}.self_attention.query_key_value.${kind}`, c);
    return rename(p, `${layer}.${NEMO_BLOCK[mod!]}.${kind}`);
  }
  const kind = p.name.slice(p.name.lastIndexOf(".") + 1);
  switch (p.name) {
    case "cls_token":
      return rename(p, `${bb}.cls_token`);
    case "pos_embed":
      return rename(p, `${bb}.position_embeddings.weight`, p.shape.slice(1));
    case "patch_embed.proj.weight":
    case "patch_embed.proj.bias":
      return rename(p, `${bb}.linear_encoder.${kind}`);
    case "norm.weight":
    case "norm.bias":
      return rename(p, `${bb}.transformer.final_layernorm.${kind}`);
    case "pre_logits.fc.weight":
    case "pre_logits.fc.bias":
      return rename(p, `${prefix}head.dense_in.${kind}`);
    case "head.weight":
    case "head.bias":
      return rename(
        p,
        c.head_type === "mlp_tanh" ? `${prefix}head.dense_out.${kind}` : `${prefix}head.${kind}`,
      );
  }
  throw new WeightMappingError(`'${p.name}' has no NeMo name`);
}

function rulesFor(format: WeightFormat, c: ViTConfig, opts: WeightMappingOptions): Rule[] {
  const prefix = opts.prefix ?? "model.";
  return parameterShapes(c).map((p) => {
    switch (format) {
      case "vit":
        return rename(p, p.name);
      case "timm":
        return timmRule(p, c);
      case "hf":
        return hfRule(p, c);
      case "nemo":
        return nemoRule(p, c, prefix);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Conversion

const list = (xs: string[], max = 6) =>
  xs.slice(0, max).join(", ") + (xs.length > max ? `, … (${xs.length} in all)` : "");

function checkStateDict(
  sd: StateDict,
  expected: ParameterShape[],
  format: WeightFormat,
  strict: boolean,
): void {
  const problems: string[] = [];
  const want = new Map(expected.map((p) => [p.name, p.shape]));
  const missing = expected.filter((p) => !(p.name in sd)).map((p) => p.name);
  if (missing.length > 0) problems.push(`missing keys: ${list(missing)}`);
  if (strict) {
    const unexpected = Object.keys(sd).filter((k) => !want.has(k));
    if (unexpected.length > 0) problems.push(`unexpected keys: ${list(unexpected)}`);
  }
  for (const [name, shape] of want) {
    const t = sd[name];
    if (!t) continue;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${name}: shape [${t.shape.join(", ")}], config expects [${shape.join(", ")}]`);
    } else if (t.data.length !== numel(shape)) {
      problems.push(`${name}: ${t.data.length} elements for shape [${shape.join(", ")}]`);
    }
  }
  if (problems.length === 0) return;
  let hint = "";
  const keys = Object.keys(sd);
  if (keys.length > 0) {
    try {
      const seen = detectFormat(sd);
      if (seen !== format) hint = ` (these look like '${seen}' weights)`;
    } catch {
      /* unrecognisable: no hint */
    }
  }
  if (problems.some((p) => p.startsWith("pos_embed") || p.includes("position_embeddings"))) {
    problems.push(
      "(a position-embedding size mismatch means another resolution or class-token count: see resamplePosEmbed)",
    );
  }
  throw new WeightMappingError(
    `${format} state dict does not match the config${hint}:\n  ${problems.join("\n  ")}`,
  );
}

function importFrom(
  format: WeightFormat,
  sd: StateDict,
  c: ViTConfig,
  opts: WeightMappingOptions = {},
): StateDict {
  const rules = rulesFor(format, c, opts);
  checkStateDict(
    sd,
    rules.flatMap((r) => r.foreign),
    format,
    opts.strict ?? true,
  );
  const out: StateDict = {};
  for (const r of rules) {
    const res = r.fromForeign(r.foreign.map((f) => sd[f.name]!));
    r.ours.forEach((o, i) => {
      out[o.name] = res[i]!;
    });
  }
  return out;
}

function exportTo(
  format: WeightFormat,
  sd: StateDict,
  c: ViTConfig,
  opts: WeightMappingOptions = {},
): StateDict {
  const rules = rulesFor(format, c, opts);
  checkStateDict(
    sd,
    rules.flatMap((r) => r.ours),
    "vit",
    opts.strict ?? true,
  );
  const out: StateDict = {};
  for (const r of rules) {
    const res = r.toForeign(r.ours.map((o) => sd[o.name]!));
    r.foreign.forEach((f, i) => {
      out[f.name] = res[i]!;
    });
  }
  return out;
}

export const fromTimm = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) =>
  importFrom("timm", sd, c, o);
export const toTimm = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) => exportTo("timm", sd, c, o);
export const fromHF = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) => importFrom("hf", sd, c, o);
export const toHF = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) => exportTo("hf", sd, c, o);
export const fromNeMo = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) =>
  importFrom("nemo", sd, c, o);
export const toNeMo = (sd: StateDict, c: ViTConfig, o?: WeightMappingOptions) => exportTo("nemo", sd, c, o);

/** Converts any supported format to ours (auto-detected when `format` is omitted). */
export function importWeights(
  sd: StateDict,
  c: ViTConfig,
  format?: WeightFormat,
  o?: WeightMappingOptions,
): StateDict {
  return importFrom(format ?? detectFormat(sd), sd, c, o);
}
/** Converts ours to `format`. */
export function exportWeights(
  sd: StateDict,
  c: ViTConfig,
  format: WeightFormat,
  o?: WeightMappingOptions,
): StateDict {
  return exportTo(format, sd, c, o);
}

/**
 * Which naming a state dict uses. From key names alone, timm and ours are indistinguishable
 * (same names) and 'timm' is returned; pass the tensors (or `{shape}` records) to tell them apart
 * by the patch-embedding weight's rank (4: timm conv, 2: ours).
 */
export function detectFormat(
  input: Iterable<string> | Record<string, { shape: readonly number[] }>,
): WeightFormat {
  const isRecord = !(Symbol.iterator in Object(input));
  const keys = isRecord ? Object.keys(input) : [...(input as Iterable<string>)];
  if (
    keys.some((k) =>
      /(^|\.)backbone\.(linear_encoder|transformer\.layers|cls_token|position_embeddings)/.test(k),
    )
  ) {
    return "nemo";
  }
  if (keys.some((k) => k.startsWith("vit.embeddings.") || k.startsWith("vit.encoder.layer."))) return "hf";
  if (keys.includes("patch_embed.proj.weight") || keys.some((k) => k.startsWith("blocks.0."))) {
    const w = isRecord
      ? (input as Record<string, { shape: readonly number[] }>)["patch_embed.proj.weight"]
      : undefined;
    return w && w.shape.length === 2 ? "vit" : "timm";
  }
  throw new WeightMappingError(
    `cannot tell the weight format from keys like ${list(keys, 4)}; expected timm (patch_embed.*, blocks.*), ` +
      "Hugging Face (vit.embeddings.*, vit.encoder.layer.*) or NeMo (model.backbone.*)",
  );
}
