/** Messages between the page and its data worker (src/data-worker.ts), and the client the page uses. */
export interface Batch {
  /** Normalised images, NCHW. */
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, number];
}

export type WorkerRequest =
  | { type: "init"; id: number; url: string; seed: number; mean: number[]; std: number[]; flip: boolean }
  | { type: "reset"; id: number }
  | { type: "train"; id: number; batch: number }
  | { type: "test"; id: number; start: number; count: number };

export type WorkerReply =
  | { type: "ready"; id: number; train: number; test: number }
  | { type: "done"; id: number }
  | { type: "batch"; id: number; batch: Batch; epoch: number }
  | { type: "error"; id: number; message: string };

type Req = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** Promise-per-request client of the data worker. */
export class DataClient {
  private next = 1;
  private pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  trainCount = 0;
  testCount = 0;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<WorkerReply>) => {
      const p = this.pending.get(ev.data.id);
      if (!p) return;
      this.pending.delete(ev.data.id);
      if (ev.data.type === "error") p.reject(new Error(`data worker: ${ev.data.message}`));
      else p.resolve(ev.data);
    };
    worker.onerror = (ev) => {
      for (const p of this.pending.values()) p.reject(new Error(`data worker crashed: ${ev.message}`));
      this.pending.clear();
    };
  }

  static start(): DataClient {
    return new DataClient(new Worker(new URL("./data-worker.ts", import.meta.url), { type: "module" }));
  }

  private request(msg: Req): Promise<WorkerReply> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  async init(opts: {
    url: string;
    seed: number;
    mean: number[];
    std: number[];
    flip: boolean;
  }): Promise<void> {
    const r = await this.request({ type: "init", ...opts });
    if (r.type === "ready") {
      this.trainCount = r.train;
      this.testCount = r.test;
    }
  }

  async reset(): Promise<void> {
    await this.request({ type: "reset" });
  }

  async trainBatch(batch: number): Promise<{ batch: Batch; epoch: number }> {
    const r = await this.request({ type: "train", batch });
    if (r.type !== "batch") throw new Error(`data worker: unexpected reply ${r.type}`); // bug, not user input
    return { batch: r.batch, epoch: r.epoch };
  }

  async testBatch(start: number, count: number): Promise<Batch> {
    const r = await this.request({ type: "test", start, count });
    if (r.type !== "batch") throw new Error(`data worker: unexpected reply ${r.type}`); // bug, not user input
    return r.batch;
  }
}
