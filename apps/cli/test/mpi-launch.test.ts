/**
 * `vit launch --backend mpi`: the built `vit` under mpirun, end to end. Tensor parallel (TP=2, over an
 * MPI_Comm_split communicator) must reproduce the single-device run's loss curve, as it does over TCP
 * (cli.test.ts), and TP=2 × DP=2 must give the TCP launch's numbers bit for bit. Skipped, saying why, where mpirun or @vit/parallel's MPI binding is missing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mpiUnavailableReason } from "@vit/parallel";
import { describe, expect, it } from "vitest";
import { CONFIG, lastJson, vit } from "./helpers.js";

const skipReason = (() => {
  const v = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0)
    return "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)";
  return mpiUnavailableReason();
})();
if (skipReason) console.warn(`mpi-launch.test.ts skipped: ${skipReason}`);

const trainRecords = (runDir: string) =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === "train");

describe.skipIf(skipReason !== null)("vit launch --backend mpi", () => {
  it("TP=2 × DP=2 on 4 ranks (MPI_Comm_split groups in the trainer) gives the TCP launch's losses and grad norms bit for bit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-mpi-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const args = (name: string) => [
      "train",
      "--config",
      "smoke.yaml",
      "trainer.max_steps=3",
      "trainer.log_every_n_steps=1",
      "trainer.devices=4",
      "model.tensor_model_parallel_size=2",
      `exp_manager.name=${name}`,
      "--json",
    ];
    const mpi = await vit(["launch", "--backend", "mpi", "--nproc", "4", "--", ...args("mpi")], dir);
    expect(mpi.code, mpi.stderr).toBe(0);
    const tcp = await vit(["launch", "--nproc", "4", "--", ...args("tcp")], dir);
    expect(tcp.code, tcp.stderr).toBe(0);
    const pick = (out: string) =>
      trainRecords(lastJson(out).run_dir).map((r) => [r.step, r.loss, r.grad_norm] as const);
    const a = pick(mpi.stdout);
    expect(a.map((r) => r[0])).toEqual([1, 2, 3]);
    // Both backends reduce in float64 in a fixed order and round once: the same bits.
    expect(a).toEqual(pick(tcp.stdout));
  });

  it("TP=2 under mpirun reproduces the single-device loss and grad-norm curves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vit-mpi-"));
    writeFileSync(join(dir, "smoke.yaml"), CONFIG);
    const common = [
      "--config",
      "smoke.yaml",
      "trainer.max_steps=4",
      "trainer.log_every_n_steps=1",
      "trainer.gradient_clip_val=0.5",
    ];
    const one = await vit(["train", ...common, "exp_manager.name=one", "--json"], dir);
    expect(one.code, one.stderr).toBe(0);
    const tp = await vit(
      [
        "launch",
        "--backend",
        "mpi",
        "--nproc",
        "2",
        "--",
        "train",
        ...common,
        "trainer.devices=2",
        "model.tensor_model_parallel_size=2",
        "exp_manager.name=tp",
        "--json",
      ],
      dir,
    );
    expect(tp.code, tp.stderr).toBe(0);
    const [ra, rb] = [trainRecords(lastJson(one.stdout).run_dir), trainRecords(lastJson(tp.stdout).run_dir)];
    expect(rb.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    for (let i = 0; i < ra.length; i++) {
      expect(Math.abs(rb[i].loss - ra[i].loss) / ra[i].loss, `loss at step ${i + 1}`).toBeLessThan(1e-5);
      expect(
        Math.abs(rb[i].grad_norm - ra[i].grad_norm) / ra[i].grad_norm,
        `grad norm at step ${i + 1}`,
      ).toBeLessThan(1e-4);
    }
  });
});
