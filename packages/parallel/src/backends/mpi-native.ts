/**
 * Loads the MPI binding (native/vit-mpi.c, compiled by scripts/build-native.mjs when the package is built
 * or installed). Missing or unloadable, it says why, and the tcp backend stays available.
 */
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export interface MpiBinding {
  /** Starts the MPI thread and runs MPI_Init_thread (once per process). */
  init(): { rank: number; size: number; threadLevel: string; library: string };
  /**
   * Runs one collective on the MPI thread, after every one submitted before it. With a signature (SIG_N = 6
   * numbers: seq, kind, op, dtype, root, out bytes) the ranks first check that theirs are equal; when they are
   * not, no rank runs the collective and each rejects with an error whose `signatures` holds every rank's.
   */
  collective(
    comm: number,
    kind: number,
    op: number,
    dtype: number,
    root: number,
    input: Uint8Array,
    outBytes: number,
    signature?: number[],
  ): Promise<Uint8Array | undefined>;
  /** MPI_Comm_split; the new communicator's handle is usable at once (calls run in submission order). */
  split(comm: number, color: number, key: number, signature?: number[]): [number, Promise<number>];
  /** MPI_Comm_free of a split's communicator (every member calls it); the handle is then reused. */
  free(comm: number, signature?: number[]): Promise<void>;
  /** Communicators open or being opened in this process, MPI_COMM_WORLD included. */
  openComms(): number;
  finalize(): Promise<void>;
  finalizeSync(): void;
  /** MPI_Abort(MPI_COMM_WORLD, code): the launcher ends every rank. */
  abort(code: number): never;
}

/** Overrides where the addon is (a path), or "off"/"0" to report it unavailable. */
export const MPI_ADDON_ENV = "VIT_MPI_ADDON";

/** dist/index.js sits one level below the package root, src/backends/ two. */
const BUILD_DIRS = [
  new URL("../native/build/", import.meta.url),
  new URL("../../native/build/", import.meta.url),
];

function candidates(): string[] {
  const override = process.env[MPI_ADDON_ENV];
  if (override) return [override];
  const prefix = `${process.platform}-${process.arch}-napi`;
  const runtime = Number(process.versions.napi ?? 0);
  return BUILD_DIRS.flatMap((dir) => {
    let dirs: string[] = [];
    try {
      dirs = readdirSync(dir);
    } catch {
      return [];
    }
    return dirs
      .filter((d) => d.startsWith(prefix) && /^\d+$/.test(d.slice(prefix.length)))
      .map((d) => ({ d, napi: Number(d.slice(prefix.length)) }))
      .filter(({ napi }) => napi <= runtime)
      .sort((a, b) => b.napi - a.napi)
      .map(({ d }) => fileURLToPath(new URL(`${d}/vit_mpi.node`, dir)));
  });
}

let loaded: { binding: MpiBinding | null; reason: string } | null = null;

function load(): { binding: MpiBinding | null; reason: string } {
  const override = process.env[MPI_ADDON_ENV];
  if (override === "off" || override === "0")
    return { binding: null, reason: `disabled by ${MPI_ADDON_ENV}` };
  const path = candidates().find((p) => existsSync(p));
  if (!path) {
    return {
      binding: null,
      reason:
        `the MPI binding is not built for ${process.platform}-${process.arch} (no mpicc when @vit/parallel was built; ` +
        "apt-get install openmpi-bin libopenmpi-dev, then rebuild)",
    };
  }
  try {
    return { binding: createRequire(import.meta.url)(path) as MpiBinding, reason: "" };
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
    return { binding: null, reason: `the MPI binding at ${path} failed to load: ${why}` };
  }
}

/** The binding, or null with the reason it is unavailable. */
export function mpiBinding(): { binding: MpiBinding | null; reason: string } {
  loaded ??= load();
  return loaded;
}
