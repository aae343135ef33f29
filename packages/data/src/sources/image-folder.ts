import type { Dirent } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { IMAGE_EXTENSIONS, decodeImage } from "../decode.js";
import { ConfigError, EmptyDatasetError, NotFoundError } from "../errors.js";
import { isDirectory } from "./files.js";
import type { Dataset, Sample, SourceSpec } from "./types.js";

export interface ImageFolderOptions {
  /** Accepted extensions, lower case without dot. Default: jpg, jpeg, png, webp. */
  extensions?: readonly string[];
  /**
   * Follow symbolic links that lead out of `root` (default false: such a link is an error naming it).
   * Links inside `root` are always followed, but every real folder is read once and every image stays in
   * the class whose folder really holds it, so a link loop or a link into another class adds nothing.
   */
  followLinks?: boolean;
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

/** State of one scan: what "inside the root" means, and the real folders already read. */
interface Scan {
  root: string;
  rootReal: string;
  followLinks: boolean;
  exts: ReadonlySet<string>;
  /** Real paths of the folders listed so far (the root and every class folder from the start). */
  seen: Set<string>;
  /** Real path of each class folder, by label. */
  classReals: string[];
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The class whose folder really holds `real` (the deepest one, should class folders nest), or -1. */
function ownerOf(real: string, scan: Scan): number {
  let best = -1;
  scan.classReals.forEach((c, i) => {
    if (isInside(real, c) && (best < 0 || c.length > scan.classReals[best]!.length)) best = i;
  });
  return best;
}

/** Where link `path` leads (null when it dangles); a link out of the root needs followLinks. */
async function resolveLink(path: string, scan: Scan): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return null;
  }
  if (!scan.followLinks && !isInside(real, scan.rootReal)) {
    throw new ConfigError(
      `${path} is a symbolic link to ${real}, outside the image folder ${scan.root}`,
      "set model.data.follow_symlinks=true (imageFolder(root, { followLinks: true })) to follow links out of the data folder, or replace the link by a copy",
    );
  }
  return real;
}

async function listImages(
  dir: string,
  dirReal: string,
  label: number,
  scan: Scan,
  out: string[],
): Promise<void> {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
  const names = entries.map((e) => e.name).sort(byCodePoint);
  const kinds = new Map(entries.map((e) => [e.name, e]));
  // torchvision walks sub-folders too (os.walk, sorted), so nested images belong to the class.
  for (const name of names) {
    const e = kinds.get(name)!;
    const p = join(dir, name);
    let real = join(dirReal, name);
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      const target = await resolveLink(p, scan);
      if (target !== null) {
        real = target;
        isDir = (await stat(p)).isDirectory();
        // A link into another class folder would give its images a second, wrong label.
        const owner = ownerOf(real, scan);
        if (owner >= 0 && owner !== label) continue;
      }
    }
    if (isDir) {
      if (scan.seen.has(real)) continue; // a link loop, or a second path to a folder already read
      scan.seen.add(real);
      await listImages(p, real, label, scan, out);
    } else if (scan.exts.has(extname(name).slice(1).toLowerCase())) out.push(p);
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
  const rootReal = await realpath(abs);
  const scan: Scan = {
    root: abs,
    rootReal,
    followLinks: !!opts.followLinks,
    exts,
    seen: new Set([rootReal]),
    classReals: [],
  };
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
  for (const c of classes) {
    const p = join(abs, c);
    const real = (await resolveLink(p, scan)) ?? join(rootReal, c);
    const twin = scan.classReals.indexOf(real);
    if (twin >= 0) {
      throw new ConfigError(
        `class folders ${classes[twin]} and ${c} of ${abs} are the same folder (${real}): its images would get two labels`,
        "remove one of them (a symbolic link)",
      );
    }
    scan.classReals.push(real);
    scan.seen.add(real);
  }
  const paths: string[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes.length; c++) {
    const dir = join(abs, classes[c]!);
    const files: string[] = [];
    await listImages(dir, scan.classReals[c]!, c, scan, files);
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
