/**
 * The run folder: where one run writes its checkpoints and metrics, chosen when fit() starts.
 *
 * NeMo's exp_manager layout. A new run gets `exp_dir/name/version_N`, N the next free number, claimed with
 * an exclusive mkdir so that two runs started together never share a folder. A resumed run continues in
 * the folder of the checkpoint it resumes from, unless that folder already holds checkpoints past the
 * resume point (another branch of the run): then it forks into a new version folder, taking the history up
 * to the resume point with it, so that nothing the other branch wrote is overwritten. With
 * `exp_manager.resume_if_exists` the folder is `exp_dir/name` itself, as in NeMo, so that a requeued job
 * finds its own checkpoints again.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { ProcessGroup } from "@vit/parallel";
import {
  latestCheckpoint,
  listStepCheckpoints,
  readCheckpointMeta,
  stepOfCheckpoint,
} from "./checkpoint/checkpoint.js";
import { ConfigError } from "./config/load.js";
import type { TrainConfig } from "./config/schema.js";

export interface RunDir {
  runDir: string;
  ckptDir: string;
  /** The checkpoint this run resumes from, or null for a fresh start. */
  resumeFrom: string | null;
  /**
   * The metrics history this run continues: the records up to `step` in `dir` (the folder resumed from,
   * which is `runDir` unless the run forked). Null for a new folder.
   */
  history: { dir: string; step: number } | null;
  /** Step checkpoints already in ckptDir that belong to this run's history (for keep_last pruning). */
  ownCheckpoints: string[];
}

/** The run folder of a checkpoint at `<run>/checkpoints/<file>`, or null for a file elsewhere. */
export function runDirOfCheckpoint(path: string): string | null {
  const dir = dirname(resolve(path));
  return basename(dir) === "checkpoints" ? dirname(dir) : null;
}

/** Claims `base/version_N` for the smallest free N above every existing one; returns N. */
export function claimVersion(base: string): number {
  mkdirSync(base, { recursive: true });
  let n = 0;
  for (const f of readdirSync(base)) {
    const m = /^version_(\d+)$/.exec(f);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  for (; ; n++) {
    try {
      mkdirSync(join(base, `version_${n}`)); // fails if another run took it first
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

/**
 * Chooses (and creates) this run's folder; sweeps stale temporary files out of it. Every rank calls it;
 * rank 0 alone numbers a new version folder and tells the others, so that all ranks write into one folder.
 */
export async function openRunDir(
  cfg: TrainConfig,
  resumeFrom: string | null,
  group?: ProcessGroup,
): Promise<RunDir> {
  const em = cfg.exp_manager;
  // NeMo's explicit_log_dir is the run folder itself: no exp_dir/name, no version folders.
  const explicit = em.explicit_log_dir !== undefined;
  const base = resolve(em.explicit_log_dir ?? join(em.exp_dir, em.name));
  let runDir: string | null;
  let resume = resumeFrom;
  let history: RunDir["history"] = null;
  if (resumeFrom) {
    const step = (await readCheckpointMeta(resumeFrom)).step;
    const from = runDirOfCheckpoint(resumeFrom);
    history = from ? { dir: from, step } : null;
    const later = from
      ? listStepCheckpoints(join(from, "checkpoints")).some((f) => stepOfCheckpoint(f)! > step)
      : true;
    runDir = later ? null : from;
  } else if (em.resume_if_exists) {
    runDir = base;
    resume = latestCheckpoint(join(base, "checkpoints"));
    if (!resume && !em.resume_ignore_no_checkpoint) {
      throw new ConfigError(`exp_manager.resume_if_exists: no checkpoint in ${join(base, "checkpoints")}`, {
        hint: "set exp_manager.resume_ignore_no_checkpoint=true to start afresh, or point exp_manager at the run to resume",
      });
    }
    // Records a killed run logged before its first checkpoint belong to no history that can be resumed.
    history = { dir: base, step: resume ? (await readCheckpointMeta(resume)).step : 0 };
  } else if (explicit) {
    // A fresh run in a folder that already holds another run's checkpoints would overwrite them.
    if (listStepCheckpoints(join(base, "checkpoints")).length) {
      throw new ConfigError(`exp_manager.explicit_log_dir ${base} already holds another run's checkpoints`, {
        hint: "resume it (exp_manager.resume_if_exists=true), or choose another explicit_log_dir",
      });
    }
    runDir = base;
  } else runDir = null;

  const rank = group?.rank ?? 0;
  let version = runDir === null && rank === 0 ? claimVersion(base) : -1;
  if (group && group.worldSize > 1) {
    version = (await group.allReduceValues([rank === 0 ? version : 0], "sum"))[0]!;
  }
  if (version >= 0) runDir = join(base, `version_${version}`);
  const ckptDir = join(runDir!, "checkpoints");
  mkdirSync(ckptDir, { recursive: true });
  for (const dir of [ckptDir, runDir!]) sweepStaleTempFiles(dir);
  const continuing = history !== null && history.dir === runDir;
  const ownCheckpoints = continuing
    ? listStepCheckpoints(ckptDir).filter((f) => stepOfCheckpoint(f)! <= history!.step)
    : [];
  return { runDir: runDir!, ckptDir, resumeFrom: resume, history, ownCheckpoints };
}

/**
 * The temporary files of our atomic writes: `.step-N[.rank-R].safetensors.tmp-PID-RAND` (saveSafetensors),
 * `.best.tmp-PID` (markBest), `.metrics.{jsonl,csv}.tmp-PID` (MetricsLogger); group 1 is the writer's pid.
 */
const TEMP_FILE =
  /^\.(?:step-\d+(?:\.rank-\d+)?\.safetensors|best|metrics\.(?:jsonl|csv))\.tmp-(\d+)(?:-[0-9a-z]*)?$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/**
 * Deletes the temporary files that killed writers left in `dir` (a killed save leaves a whole checkpoint's
 * worth of bytes behind, forever otherwise). Only our own temp names, and only those whose writer is dead,
 * or that were last written before this process started (the pid was reused, or belongs to another host):
 * a live writer's file is always newer than that. Returns the names deleted.
 */
export function sweepStaleTempFiles(dir: string, startedAt = performance.timeOrigin): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(dir)) {
    const m = TEMP_FILE.exec(f);
    if (!m) continue;
    const path = join(dir, f);
    let mtime: number;
    try {
      mtime = statSync(path).mtimeMs;
    } catch {
      continue; // gone meanwhile
    }
    if (alive(Number(m[1])) && mtime >= startedAt) continue;
    rmSync(path, { force: true });
    removed.push(f);
  }
  return removed;
}
