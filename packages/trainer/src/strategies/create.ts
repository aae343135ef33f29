/** The strategy a config and a process group describe (Lightning's strategy="auto"). */
import type { ProcessGroup } from "@vit/parallel";
import { ConfigError } from "../config/load.js";
import type { TrainConfig } from "../config/schema.js";
import { DataParallelStrategy } from "./data-parallel.js";
import { SingleDeviceStrategy } from "./single-device.js";
import type { Strategy } from "./strategy.js";
import { TensorParallelStrategy } from "./tensor-parallel.js";

/**
 * model.tensor_model_parallel_size > 1: Megatron's tensor parallelism (± data parallel over its groups);
 * otherwise data parallelism over `group` when it has several ranks (ZeRO-1 with distributed_fused_adam);
 * otherwise one device. Refuses a layout that does not match the ranks running, with the fix.
 */
export function createStrategy(cfg: TrainConfig, group?: ProcessGroup): Strategy {
  const world = group?.worldSize ?? 1;
  const expected = cfg.trainer.devices * cfg.trainer.num_nodes;
  if (world !== expected) {
    throw new ConfigError(
      `trainer.devices × trainer.num_nodes = ${expected}, but ${world} rank(s) are running`,
      {
        hint: `launch ${expected} ranks (\`vit launch --nproc ${expected} -- train ...\`) or set trainer.devices=${world}`,
      },
    );
  }
  if (cfg.model.tensor_model_parallel_size > 1) return new TensorParallelStrategy(cfg, group);
  if (group && world > 1) return new DataParallelStrategy(group, cfg);
  return new SingleDeviceStrategy();
}
