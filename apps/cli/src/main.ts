/**
 * The `vit` command. Each subcommand lives in src/commands/; this file only wires them to commander.
 * Dawn keeps the event loop alive while a device exists, so every command exits explicitly.
 */
import { Command } from "commander";
import { infoCommand } from "./commands/info.js";
import { convertCommand } from "./commands/convert.js";
import { evalCommand } from "./commands/eval.js";
import { finetuneCommand } from "./commands/finetune.js";
import { DEFAULT_GRACE_SECONDS, launchCommand } from "./commands/launch.js";
import { modelCommand } from "./commands/model.js";
import { predictCommand } from "./commands/predict.js";
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

program
  .command("eval")
  .description("evaluate a checkpoint on its config's test split, or on an image folder")
  .requiredOption("--checkpoint <file>", "vit checkpoint (.safetensors)")
  .option("--data <folder>", "ImageFolder root to evaluate on instead")
  .option("--max-batches <n>", "stop after n batches")
  .option("--json", "print one JSON object (top1, top5, loss, images_per_second, wall_seconds, checkpoint)")
  .action(async (opts) => {
    await evalCommand(opts);
    process.exit(0);
  });

program
  .command("predict")
  .description("top-5 classes for images")
  .requiredOption("--checkpoint <file>", "vit checkpoint")
  .argument("<images...>", "image files (JPEG/PNG/WebP)")
  .option("--json", "print JSON")
  .action(async (images: string[], opts) => {
    await predictCommand(images, opts);
    process.exit(0);
  });

program
  .command("finetune")
  .description("fine-tune from a vit checkpoint or timm / Hugging Face / NeMo safetensors weights")
  .requiredOption("--from <weights>", "checkpoint or .safetensors weights")
  .option("-c, --config <file>", "YAML config", defaultConfigPath())
  .argument("[overrides...]", "key=value overrides")
  .option("--json", "print one JSON object last")
  .action(async (overrides: string[], opts) => {
    await finetuneCommand(overrides, opts);
    process.exit(0);
  });

program
  .command("convert")
  .description("rename weights between vit, timm, Hugging Face and NeMo layouts")
  .argument("<input>", "input .safetensors (vit checkpoint or foreign weights)")
  .argument("<output>", "output .safetensors")
  .argument("[overrides...]", "key=value model overrides for foreign inputs")
  .requiredOption("--to <format>", "timm | hf | nemo | vit")
  .option("--preset <name>", "architecture of foreign weights (e.g. B/16)")
  .action(async (input: string, output: string, overrides: string[], opts) => {
    await convertCommand(input, output, overrides, opts);
    process.exit(0);
  });

program
  .command("launch")
  .description("run a vit command on N ranks (torchrun-style: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, plus a per-job VIT_JOB_TOKEN)")
  .requiredOption("--nproc <n>", "number of ranks (processes) on this host")
  .option("--master-port <port>", "rendezvous port (default: a free one)")
  .option("--master-addr <addr>", "rendezvous address; rank 0 listens on it only", "127.0.0.1")
  .option("--grace <seconds>", "after a rank fails: time the others get to report, then to exit after SIGTERM before SIGKILL", String(DEFAULT_GRACE_SECONDS))
  .option("--collective-timeout <seconds>", "longest a collective waits for the other ranks (sets VIT_COLLECTIVE_TIMEOUT; default 300)")
  .option("--backend <name>", "tcp (this launcher, the TCP star) or mpi (runs mpirun -np N; needs MPI)", "tcp")
  .argument("<command...>", "the vit command and its arguments, after --")
  .allowUnknownOption()
  .action(async (command: string[], opts) => {
    process.exit(await launchCommand(command, opts));
  });

program
  .command("model")
  .description("list presets, or print a preset's resolved config and parameter counts (no GPU)")
  .argument("[overrides...]", "key=value overrides")
  .option("--list", "list presets")
  .option("--preset <name>", "preset name (tiny, small, B/16, L/16, H/16, H/14, g/14, G/14)")
  .option("--json", "print JSON")
  .action((overrides: string[], opts) => {
    modelCommand(overrides, opts);
    process.exit(0);
  });

program.parseAsync(process.argv).catch(reportAndExit);
