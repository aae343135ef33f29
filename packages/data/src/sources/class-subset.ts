/**
 * A deterministic class / per-class subset of a random-access data set, as Megatron's and NeMo's
 * ImageFolder take it (classes_fraction, data_per_class_fraction): the first ⌊C·classes_fraction⌋ classes
 * in label order, and of each kept class the first ⌊n_c·data_per_class_fraction⌋ samples in data-set
 * order (sorted file order for folders, index order for in-memory sets). Labels keep their numbers, since
 * the kept classes are labels 0 … k−1. (Megatron takes its classes in os.scandir order, which is not
 * deterministic; label order is.)
 */
import { ConfigError } from "../errors.js";
import { sharedInt32 } from "../shared.js";
import type { Dataset, Sample, SourceSpec } from "./types.js";

export interface ClassSubsetOptions {
  /** Fraction of the classes kept, in (0, 1]; default 1. */
  classesFraction?: number;
  /** Fraction of each kept class's samples kept, in (0, 1]; default 1. */
  perClassFraction?: number;
}

export class ClassSubsetDataset implements Dataset {
  readonly kind = "map" as const;
  readonly name: string;
  readonly length: number;
  readonly classes: readonly string[];
  readonly channels: 1 | 3;
  readonly imageSize: readonly [number, number] | undefined;

  constructor(
    readonly base: Dataset,
    /** Indices into `base`, ascending, on shared memory (workers map them without a copy). */
    readonly indices: Int32Array,
    numClasses: number,
  ) {
    this.name = `${base.name} (subset: ${numClasses} classes, ${indices.length} samples)`;
    this.length = indices.length;
    this.classes = base.classes.slice(0, numClasses);
    this.channels = base.channels;
    this.imageSize = base.imageSize;
  }

  label(index: number): number {
    return this.base.label(this.indices[index]!);
  }

  samplePath(index: number): string {
    return this.base.samplePath(this.indices[index]!);
  }

  get(index: number): Promise<Sample> {
    if (!(index >= 0 && index < this.length))
      throw new RangeError(`${this.name}: index ${index} out of range`);
    return this.base.get(this.indices[index]!);
  }

  get source(): SourceSpec {
    const b = this.base.source;
    // File sets send each sample's path and label with its batch (samplePath/label above map them);
    // indexed sets send indices, which the worker maps through this table.
    if (b.kind === "files" || b.kind === "encoded") return b;
    if (b.kind === "subset")
      throw new Error("ClassSubsetDataset: take the subset of the base set (classSubset does)"); // bug, not user input
    return { kind: "subset", name: this.name, base: b, indices: this.indices };
  }
}

function checkFraction(what: string, f: number): void {
  if (!(Number.isFinite(f) && f > 0 && f <= 1)) {
    throw new ConfigError(`${what} ${f} is not in (0, 1]`, "use a fraction such as 0.1 (1 keeps everything)");
  }
}

/** The subset of `ds` that `opts` describes (`ds` itself when both fractions are 1). */
export function classSubset(ds: Dataset, opts: ClassSubsetOptions): Dataset {
  const cf = opts.classesFraction ?? 1;
  const pf = opts.perClassFraction ?? 1;
  checkFraction("classes_fraction", cf);
  checkFraction("data_per_class_fraction", pf);
  if (cf === 1 && pf === 1) return ds;
  const C = ds.classes.length;
  const k = Math.floor(C * cf);
  if (k === 0) {
    throw new ConfigError(
      `${ds.name}: classes_fraction ${cf} of ${C} classes keeps none`,
      `use classes_fraction ≥ ${(1 / C).toPrecision(3)}`,
    );
  }
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < ds.length; i++) {
    const l = ds.label(i);
    if (l < k) byClass[l]!.push(i);
  }
  const kept: number[] = [];
  for (const members of byClass) kept.push(...members.slice(0, Math.floor(members.length * pf)));
  if (kept.length === 0) {
    throw new ConfigError(
      `${ds.name}: classes_fraction ${cf} × data_per_class_fraction ${pf} keeps no sample`,
      "raise data_per_class_fraction",
    );
  }
  kept.sort((a, b) => a - b);
  // A subset of a subset is one subset of the base set.
  const nested = ds instanceof ClassSubsetDataset;
  const indices = sharedInt32(kept.length);
  indices.set(nested ? kept.map((i) => ds.indices[i]!) : kept);
  return new ClassSubsetDataset(nested ? ds.base : ds, indices, k);
}
