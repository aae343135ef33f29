/**
 * One rank of a comm-suite job (this CLI re-run with VIT_BENCH_COMM_WORKER=1 under mpirun or with
 * torchrun's variables). Rank 0 prints one `TAG <json>` line per measurement. Modes (VIT_BENCH_COMM_MODE):
 *   bw  host f32 payloads through the backend's collective path (HostStagedGroup.exchangePartitioned: the
 *       bytes a fused gradient bucket becomes after its readback), per op and size, each result checked;
 *       then the latency of an 8-byte all-reduce (allReduceValues), where a per-collective overhead such as
 *       the mpi backend's sequence check shows;
 *   dp  the tiny ViT's training step of a parallel layout: @vit/trainer's trainStep with the strategy the
 *       trainer picks (data parallel: the gradient all-reduce inside it; VIT_BENCH_COMM_TP > 1: Megatron's
 *       tensor parallel ± data parallel), timed by step-core's measureBuilt on this rank's own Device.
 */
import { HostStagedGroup, type ProcessGroup, initProcessGroup } from "@vit/parallel";
import { Device, VitError } from "@vit/tensor";
import { measureSteps } from "../step-runner.js";
import type { BusOp } from "./busbw.js";

export interface BwRecord {
  backend: string;
  op: BusOp;
  /** The collective's size as nccl-tests counts it (all-gather: the output), bytes. */
  bytes: number;
  world: number;
  secs: number[];
}
export interface LatencyRecord {
  backend: string;
  world: number;
  /** Microseconds per 8-byte all-reduce, one figure per block of calls. */
  us: number[];
}
export interface DpRecord {
  backend: string;
  world: number;
  /** Tensor-parallel size (1: pure data parallel). */
  tp: number;
  batch: number;
  /** Images/s of this rank (its own batch), per timed block. */
  ips: number[];
  stepsPerBlock: number;
}

const list = (v: string | undefined, dflt: string) => (v || dflt).split(",").filter(Boolean);

async function bandwidth(g: ProcessGroup): Promise<void> {
  if (!(g instanceof HostStagedGroup))
    throw new VitError(`the ${g.backend} group does not stage through host memory`);
  const sizes = list(process.env.VIT_BENCH_COMM_SIZES, "1,4,16,64").map(Number);
  const ops = list(process.env.VIT_BENCH_COMM_OPS, "allReduce,reduceScatter") as BusOp[];
  const repeats = Number(process.env.VIT_BENCH_COMM_REPEATS ?? 5);
  const n = g.worldSize;
  for (const op of ops) {
    for (const mb of sizes) {
      // The size in whole f32 elements divisible by the world (reduce-scatter's chunks, all-gather's shards).
      const elems = Math.round((mb * 1e6) / 4 / n) * n;
      const bytes = elems * 4;
      const mine = op === "allGather" ? elems / n : elems;
      const payload = new Uint8Array(new Float32Array(mine).fill(g.rank + 1).buffer);
      const desc = { kind: op, dtype: op === "allGather" ? "bytes" : "f32", bytes: mine * 4 } as const;
      const secs: number[] = [];
      let out: Uint8Array = new Uint8Array(0);
      for (let r = 0; r < repeats + 1; r++) {
        await g.barrier();
        const t0 = performance.now();
        out = await g.exchangePartitioned(op === "allGather" ? desc : { ...desc, op: "sum" }, payload);
        if (r > 0) secs.push((performance.now() - t0) / 1000);
      }
      // A cheap check that the bytes were reduced: the last element is Σ(r+1) (all-gather: the last rank's n).
      const last = new Float32Array(out.slice(out.byteLength - 4).buffer)[0];
      const want = op === "allGather" ? n : (n * (n + 1)) / 2;
      if (last !== want) throw new VitError(`${op} of ${bytes} B gave ${last}, expected ${want}`);
      if (g.rank === 0)
        console.log(
          `COMM ${JSON.stringify({ backend: g.backend, op, bytes, world: n, secs } satisfies BwRecord)}`,
        );
    }
  }
  const calls = Number(process.env.VIT_BENCH_COMM_LAT_CALLS ?? 200);
  const us: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    await g.barrier();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await g.allReduceValues([g.rank]);
    if (r > 0) us.push(((performance.now() - t0) * 1000) / calls);
  }
  if (g.rank === 0)
    console.log(`LAT ${JSON.stringify({ backend: g.backend, world: n, us } satisfies LatencyRecord)}`);
}

async function dataParallel(g: ProcessGroup): Promise<void> {
  const batch = Number(process.env.VIT_BENCH_COMM_BATCH ?? 32);
  const tp = Number(process.env.VIT_BENCH_COMM_TP ?? 1);
  const device = await Device.create({ seed: 1 });
  const f = await measureSteps(
    device,
    {
      preset: process.env.VIT_BENCH_COMM_PRESET ?? "tiny",
      batch,
      steps: Number(process.env.VIT_BENCH_COMM_STEPS ?? 3),
      repeats: Number(process.env.VIT_BENCH_COMM_REPEATS ?? 3),
      warmup: 2,
    },
    g,
    tp,
  );
  if (g.rank === 0) {
    const rec: DpRecord = {
      backend: g.backend,
      world: g.worldSize,
      tp,
      batch,
      ips: f.imagesPerSecond,
      stepsPerBlock: f.stepsPerBlock,
    };
    console.log(`DP ${JSON.stringify(rec)}`);
  }
  device.destroy();
}

export async function commWorker(): Promise<void> {
  const g = await initProcessGroup();
  if (process.env.VIT_BENCH_COMM_MODE === "dp") await dataParallel(g);
  else await bandwidth(g);
  await g.destroy();
}
