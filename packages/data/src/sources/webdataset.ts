import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { posix } from "node:path";
import { extract } from "tar-stream";
import { IMAGE_EXTENSIONS } from "../decode.js";
import { ConfigError, FormatError, LabelRangeError, NotFoundError } from "../errors.js";
import { Rng, Stream } from "../rng.js";
import type { EncodedSample, IterableDataset, StreamOptions } from "./types.js";

export interface WebDatasetOptions {
  /** Paths of the .tar shards. */
  shards: readonly string[];
  /** Class names (labels index into it); or give `numClasses` and names become "0".."n-1". */
  classes?: readonly string[];
  numClasses?: number;
  /** Samples held for shuffling; 0 reads in shard order. Default 1000. */
  shuffleBuffer?: number;
  /** Shuffle shard order and samples each epoch. Default true. */
  shuffle?: boolean;
  /** Total sample count, if known (only used to report the loader's length). */
  length?: number;
}

/** WebDataset's key rule: the path up to the first dot of its basename (`a/b.c.jpg` → `a/b`, ext `c.jpg`). */
export function splitKey(name: string): { key: string; ext: string } | null {
  const dir = posix.dirname(name);
  const base = posix.basename(name);
  const dot = base.indexOf(".");
  if (dot <= 0) return null;
  return {
    key: dir === "." ? base.slice(0, dot) : `${dir}/${base.slice(0, dot)}`,
    ext: base.slice(dot + 1).toLowerCase(),
  };
}

interface Partial {
  key: string;
  image?: Uint8Array;
  cls?: string;
}

/**
 * WebDataset tar shards (`{key}.jpg|jpeg|png|webp` + `{key}.cls`), streamed with tar-stream: files are never
 * extracted to disk and a shard is never held in memory whole. Each epoch shuffles the shard order and
 * passes samples through a seeded shuffle buffer, so a given (seed, epoch, rank) always yields the same order.
 * With several ranks, shard i (after shuffling) goes to rank i mod worldSize.
 */
export class WebDataset implements IterableDataset {
  readonly kind = "iterable" as const;
  readonly name: string;
  readonly classes: readonly string[];
  readonly channels = 3 as const;
  readonly length: number | undefined;
  readonly shards: readonly string[];
  private readonly bufferSize: number;
  private readonly shuffle: boolean;

  constructor(opts: WebDatasetOptions) {
    if (opts.shards.length === 0)
      throw new ConfigError("webDataset: no shards given", "pass at least one .tar path");
    const classes =
      opts.classes ??
      (opts.numClasses ? Array.from({ length: opts.numClasses }, (_, i) => String(i)) : undefined);
    if (!classes || classes.length === 0) {
      throw new ConfigError("webDataset: number of classes unknown", "pass classes: [...] or numClasses: n");
    }
    this.classes = classes;
    this.shards = opts.shards;
    this.name =
      opts.shards.length === 1 ? opts.shards[0]! : `${opts.shards[0]} (+${opts.shards.length - 1} shards)`;
    this.bufferSize = opts.shuffleBuffer ?? 1000;
    this.shuffle = opts.shuffle ?? true;
    this.length = opts.length;
  }

  /** The shards rank `rank` reads in `epoch`, in reading order. */
  shardsFor(opts: StreamOptions): string[] {
    if (opts.worldSize > this.shards.length) {
      throw new ConfigError(
        `webDataset: ${this.shards.length} shards cannot feed ${opts.worldSize} ranks`,
        "write at least one shard per rank (ideally several)",
      );
    }
    const order = this.shuffle
      ? Array.from(Rng.derive(opts.seed, Stream.shards, opts.epoch).permutation(this.shards.length))
      : this.shards.map((_, i) => i);
    return order.filter((_, i) => i % opts.worldSize === opts.rank).map((i) => this.shards[i]!);
  }

  async *stream(opts: StreamOptions): AsyncGenerator<EncodedSample> {
    const shards = this.shardsFor(opts);
    const size = this.shuffle ? this.bufferSize : 0;
    const rng = Rng.derive(opts.seed, Stream.buffer, opts.epoch, opts.rank);
    const buf: EncodedSample[] = [];
    for (const shard of shards) {
      for await (const s of this.readShard(shard)) {
        if (size <= 1) {
          yield s;
          continue;
        }
        if (buf.length < size) {
          buf.push(s);
          continue;
        }
        const j = rng.int(size);
        const out = buf[j]!;
        buf[j] = s;
        yield out;
      }
    }
    rng.shuffle(buf);
    yield* buf;
  }

  /** Samples of one shard in stored order. */
  async *readShard(shard: string): AsyncGenerator<EncodedSample> {
    try {
      await access(shard);
    } catch {
      throw new NotFoundError(
        "WebDataset shard",
        shard,
        "check the shard list (paths are relative to the cwd)",
      );
    }
    const ex = extract();
    const file = createReadStream(shard);
    file.on("error", (e) => ex.destroy(e));
    file.pipe(ex as unknown as NodeJS.WritableStream);
    let cur: Partial | undefined;
    const finish = (p: Partial): EncodedSample => {
      const where = `${shard}:${p.key}`;
      if (!p.image) {
        throw new FormatError(
          shard,
          `sample ${p.key} has no image (.jpg/.jpeg/.png/.webp)`,
          "write each sample's image and .cls under the same key",
        );
      }
      if (p.cls === undefined) {
        throw new FormatError(
          shard,
          `sample ${p.key} has no .cls label`,
          "write each sample's image and .cls under the same key",
        );
      }
      const label = Number(p.cls.trim());
      if (!Number.isInteger(label) || label < 0 || label >= this.classes.length) {
        if (!Number.isInteger(label)) {
          throw new FormatError(
            shard,
            `sample ${p.key}: .cls holds "${p.cls.trim()}", not an integer`,
            "store the class index as decimal text",
          );
        }
        throw new LabelRangeError(shard, label, this.classes.length, `sample ${p.key}`);
      }
      return { key: where, bytes: p.image, label };
    };
    try {
      for await (const entry of ex) {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        if (entry.header.type !== "file") continue;
        const parts = splitKey(entry.header.name);
        if (!parts) continue;
        if (cur && cur.key !== parts.key) {
          yield finish(cur);
          cur = undefined;
        }
        cur ??= { key: parts.key };
        const body = Buffer.concat(chunks);
        // A standalone copy: Buffer memory may be pooled, and the loader transfers these bytes to a worker.
        if (IMAGE_EXTENSIONS.includes(parts.ext)) cur.image = new Uint8Array(body);
        else if (parts.ext === "cls") cur.cls = body.toString("utf8");
      }
    } catch (e) {
      if (e instanceof FormatError || e instanceof LabelRangeError) throw e;
      throw new FormatError(
        shard,
        `cannot read tar stream (${(e as Error).message})`,
        "re-create the shard; it is truncated or not a tar file",
      );
    } finally {
      file.destroy();
    }
    if (cur) yield finish(cur);
  }
}

export function webDataset(opts: WebDatasetOptions): WebDataset {
  return new WebDataset(opts);
}
