/**
 * The `vit` command. Each subcommand lives in src/commands/; this file only wires them to commander.
 * Dawn keeps the event loop alive while a device exists, so every command exits explicitly.
 */
import { Command } from "commander";
import { infoCommand } from "./commands/info.js";
import { defaultConfigPath, trainCommand } from "./commands/train.js";
import { reportAndExit } from "./errors.js";

const program = new Command();
program.name("vit").description("Train, fine-tune and run Vision Transformers on WebGPU").version("0.1.0");

program
  .command("info")
  .description("print the WebGPU adapter, its features and limits")
  .option("--json", "print one JSON object")
  .action(async (opts) => {
    await infoCommand(opts);
    process.exit(0);
  });

program
  .command("train")
  .description("train a ViT from a NeMo-style YAML config (default: the tiny ViT on bundled Fashion-MNIST)")
  .argument("[overrides...]", "key=value overrides, e.g. model.num_layers=4 trainer.max_steps=100")
  .option("-c, --config <file>", "YAML config", defaultConfigPath())
  .option("--resume <checkpoint>", "resume from this checkpoint")
  .option("--json", "print one JSON object (top1, top5, loss, images_per_second, wall_seconds, checkpoint) last")
  .action(async (overrides: string[], opts) => {
    await trainCommand(overrides, opts);
    process.exit(0);
  });

program.parseAsync(process.argv).catch(reportAndExit);
