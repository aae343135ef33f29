/**
 * Entry point of a DataLoader worker thread. It builds the batch context from workerData once, then turns
 * batch tasks into batches one at a time (strictly in arrival order, so memory stays bounded) and posts
 * them back with their buffers transferred.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  type BatchTask,
  type PipelineConfig,
  createBatchContext,
  processBatch,
  resultTransferList,
} from "./batch.js";
import { serializeError } from "./errors.js";

export type WorkerRequest = { type: "task"; id: number; task: BatchTask } | { type: "close" };
export type WorkerReply =
  | { type: "result"; id: number; result: Awaited<ReturnType<typeof processBatch>> }
  | { type: "error"; id: number; error: ReturnType<typeof serializeError> };

const port = parentPort;
if (!port) throw new Error("@vit/data worker.js must run as a worker thread"); // bug, not user input

const ctxPromise = createBatchContext(workerData as PipelineConfig);
let chain: Promise<void> = Promise.resolve();

port.on("message", (msg: WorkerRequest) => {
  chain = chain.then(async () => {
    if (msg.type === "close") {
      port.close();
      return;
    }
    try {
      const ctx = await ctxPromise;
      const result = await processBatch(ctx, msg.task);
      port.postMessage(
        { type: "result", id: msg.id, result } satisfies WorkerReply,
        resultTransferList(result),
      );
    } catch (e) {
      port.postMessage({ type: "error", id: msg.id, error: serializeError(e) } satisfies WorkerReply);
    }
  });
});
