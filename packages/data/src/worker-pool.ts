import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { BatchResult, BatchTask, PipelineConfig } from "./batch.js";
import { ConfigError, WorkerCrashError, deserializeError } from "./errors.js";
import type { WorkerReply, WorkerRequest } from "./worker.js";

/**
 * Where the worker script lives. Built code finds dist/worker.js next to itself. Running from TypeScript
 * sources (vitest), there is no JS file to start a thread from, so the test setup bundles one and points
 * VIT_DATA_WORKER at it.
 */
export function workerScriptUrl(): URL {
  const override = process.env.VIT_DATA_WORKER;
  if (override) return override.startsWith("file:") ? new URL(override) : pathToFileURL(override);
  const url = new URL("./worker.js", import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new ConfigError(
      `DataLoader worker script not found at ${fileURLToPath(url)}`,
      "build the package (pnpm run build), set VIT_DATA_WORKER to a bundled worker.js, or use numWorkers: 0",
    );
  }
  return url;
}

interface Job {
  id: number;
  task: BatchTask;
  transfer: ArrayBuffer[];
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker;
  job: Job | null;
  exited: boolean;
  exitPromise: Promise<void>;
}

/**
 * A fixed set of worker threads that each process one batch task at a time, fed from one queue.
 * Workers are unref'd whenever they have nothing to do, so an idle pool never keeps the process alive, yet a
 * pending batch always does (the process cannot exit under an awaiting training loop).
 * Any worker death rejects every pending and future task with WorkerCrashError: no task can wait forever.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private failure: Error | null = null;
  private closing = false;
  private nextId = 1;
  /** Tasks posted to workers so far (one per batch). */
  tasksPosted = 0;

  constructor(size: number, config: PipelineConfig, url: URL = workerScriptUrl()) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i, config, url));
  }

  get size(): number {
    return this.slots.length;
  }

  /** The error that broke the pool, if any. */
  get failed(): Error | null {
    return this.failure;
  }

  private spawn(index: number, config: PipelineConfig, url: URL): Slot {
    const worker = new Worker(url, { workerData: config });
    let onExit!: () => void;
    const slot: Slot = {
      index,
      worker,
      job: null,
      exited: false,
      exitPromise: new Promise<void>((r) => {
        onExit = r;
      }),
    };
    worker.unref();
    worker.on("message", (msg: WorkerReply) => this.onMessage(slot, msg));
    worker.on("error", (err: Error) => {
      this.fail(new WorkerCrashError(`worker ${index} threw ${err.name}: ${err.message}`));
    });
    worker.on("messageerror", (err: Error) => {
      this.fail(new WorkerCrashError(`worker ${index} sent an unreadable message: ${err.message}`));
    });
    worker.on("exit", (code) => {
      slot.exited = true;
      onExit();
      if (!this.closing)
        this.fail(new WorkerCrashError(`worker ${index} exited unexpectedly with code ${code}`));
    });
    return slot;
  }

  private onMessage(slot: Slot, msg: WorkerReply): void {
    const job = slot.job;
    if (!job || job.id !== msg.id) return;
    slot.job = null;
    if (msg.type === "result") job.resolve(msg.result);
    else job.reject(deserializeError(msg.error));
    this.pump();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const pending = [...this.slots.flatMap((s) => (s.job ? [s.job] : [])), ...this.queue.splice(0)];
    for (const s of this.slots) s.job = null;
    for (const j of pending) j.reject(e);
    // The surviving workers are useless now; let them finish their current task and exit.
    void this.close();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.exited) continue;
      if (!slot.job && this.queue.length > 0 && !this.failure) {
        const job = this.queue.shift()!;
        slot.job = job;
        slot.worker.ref();
        this.tasksPosted++;
        slot.worker.postMessage(
          { type: "task", id: job.id, task: job.task } satisfies WorkerRequest,
          job.transfer,
        );
      }
      if (!slot.job && !this.closing) slot.worker.unref();
    }
  }

  /** Queues a batch task; `transfer` lists task buffers to move rather than copy. */
  run(task: BatchTask, transfer: ArrayBuffer[] = []): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new WorkerCrashError("the worker pool is closed"));
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, transfer, resolve, reject });
      this.pump();
    });
  }

  /**
   * Asks every worker to exit after its current task, then waits for them; a worker that does not exit within
   * `graceMs` is terminated. (Terminating a thread in the middle of a libvips call can abort the process, hence
   * the polite request first.)
   */
  async close(graceMs = 10_000): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      const err = this.failure ?? new WorkerCrashError("the worker pool was closed with batches pending");
      for (const j of this.queue.splice(0)) j.reject(err);
      for (const s of this.slots) {
        if (s.exited) continue;
        s.worker.ref();
        s.worker.postMessage({ type: "close" } satisfies WorkerRequest);
      }
    }
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.exited) return;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"timeout">((r) => {
          timer = setTimeout(() => r("timeout"), graceMs);
          timer.unref();
        });
        const r = await Promise.race([s.exitPromise.then(() => "exited" as const), timeout]);
        if (timer) clearTimeout(timer);
        if (r === "timeout") await s.worker.terminate();
      }),
    );
  }
}
