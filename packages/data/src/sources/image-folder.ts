import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { IMAGE_EXTENSIONS, decodeImage } from "../decode.js";
import { EmptyDatasetError, NotFoundError } from "../errors.js";
import { isDirectory } from "./files.js";
import type { Dataset, Sample, SourceSpec } from "./types.js";

export interface ImageFolderOptions {
  /** Accepted extensions, lower case without dot. Default: jpg, jpeg, png, webp. */
  extensions?: readonly string[];
}

function byCodePoint(a: string, b: string): number {
  // Python's sorted() compares code points; plain < on JS strings compares UTF-16 units, which only differs
  // for astral characters — but class order decides label numbers, so be exact.
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

async function listImages(dir: string, exts: ReadonlySet<string>, out: string[]): Promise<void> {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
  const names = entries.map((e) => e.name).sort(byCodePoint);
  const kinds = new Map(entries.map((e) => [e.name, e]));
  // torchvision walks sub-folders too (os.walk, sorted), so nested images belong to the class.
  for (const name of names) {
    const e = kinds.get(name)!;
    const p = join(dir, name);
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(p)))) await listImages(p, exts, out);
    else if (exts.has(extname(name).slice(1).toLowerCase())) out.push(p);
  }
}

/**
 * An ImageNet-style folder: `root/<class>/**\/*.{jpg,jpeg,png,webp}`. Classes are the sub-folder names sorted
 * like torchvision's ImageFolder, so label i means the same class in both. Only the file list is read here;
 * images are decoded (with sharp, to 8-bit RGB) when a batch needs them.
 */
export class ImageFolderDataset implements Dataset {
  readonly kind = "map" as const;
  readonly name: string;
  readonly length: number;
  readonly classes: readonly string[];
  readonly channels = 3 as const;
  readonly imageSize = undefined;
  readonly paths: readonly string[];
  readonly labels: Int32Array;

  constructor(root: string, classes: readonly string[], paths: readonly string[], labels: Int32Array) {
    this.name = root;
    this.classes = classes;
    this.paths = paths;
    this.labels = labels;
    this.length = paths.length;
  }

  label(index: number): number {
    return this.labels[index]!;
  }

  samplePath(index: number): string {
    return this.paths[index]!;
  }

  async get(index: number): Promise<Sample> {
    const path = this.paths[index];
    if (path === undefined) throw new RangeError(`${this.name}: index ${index} out of range`);
    return { image: await decodeImage(path, path), label: this.labels[index]! };
  }

  get source(): SourceSpec {
    return { kind: "files", name: this.name };
  }
}

/** Scans `root` and returns the data set; throws NotFoundError / EmptyDatasetError with the offending path. */
export async function imageFolder(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
  const abs = resolve(root);
  const layout =
    "an ImageFolder root holds one sub-folder per class, each containing .jpg/.jpeg/.png/.webp files";
  if (!(await isDirectory(abs)))
    throw new NotFoundError("Image folder root", abs, `check the path; ${layout}`);
  const exts = new Set((opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase().replace(/^\./, "")));
  const entries = await readdir(abs, { withFileTypes: true });
  const classes: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(join(abs, e.name)))))
      classes.push(e.name);
  }
  classes.sort(byCodePoint);
  if (classes.length === 0) {
    throw new EmptyDatasetError(`No class folders in ${abs}`, abs, layout);
  }
  const paths: string[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes.length; c++) {
    const dir = join(abs, classes[c]!);
    const files: string[] = [];
    await listImages(dir, exts, files);
    if (files.length === 0) {
      throw new EmptyDatasetError(
        `Class folder ${dir} contains no images with extension ${[...exts].join("/")}`,
        dir,
        "add images to it or remove the folder (every sub-folder of the root is a class)",
      );
    }
    for (const f of files) {
      paths.push(f);
      labels.push(c);
    }
  }
  return new ImageFolderDataset(abs, classes, paths, Int32Array.from(labels));
}
