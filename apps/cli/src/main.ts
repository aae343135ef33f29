/**
 * The `vit` command. Each subcommand lives in src/commands/; this file only wires them to commander.
 * Dawn keeps the event loop alive while a device exists, so every command exits explicitly.
 */
import { Command } from "commander";
import { convertCommand } from "./commands/convert.js";
import { evalCommand } from "./commands/eval.js";
import { finetuneCommand } from "./commands/finetune.js";
import { infoCommand } from "./commands/info.js";
import { DEFAULT_GRACE_SECONDS, launchCommand } from "./commands/launch.js";
import { modelCommand } from "./commands/model.js";
import { predictCommand } from "./commands/predict.js";
import { defaultConfigPath, trainCommand } from "./commands/train.js";
import { reportAndExit } from "./errors.js";

/** The "Examples:" section of a verb's --help: [command line, what it does]. */
function examples(rows: Array<[string, string]>): string {
  return `\nExamples:\n${rows.map(([cmd, what]) => `  $ ${cmd}\n      ${what}`).join("\n")}\n`;
}

const program = new Command();
program
  .name("vit")
  .description("Train, fine-tune and run Vision Transformers on WebGPU")
  .version("0.1.0")
  .addHelpText(
    "after",
    examples([
      ["vit train", "train the tiny ViT on the bundled Fashion-MNIST"],
      ["vit <command> --help", "options and examples of one command"],
    ]),
  );

program
  .command("info")
  .description("print the WebGPU adapter, its features and limits")
  .option("--json", "print one JSON object")
  .addHelpText(
    "after",
    examples([
      ["vit info", "which GPU (or CPU fallback) Dawn found, its features and limits"],
      ["vit info --json", "the same as one JSON object"],
    ]),
  )
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
  .option("--print-config", "print the resolved config (after overrides and the preset) as YAML and exit")
  .option("--dry-run", "build everything, run one step and one test batch, keep no files")
  .option(
    "--json",
    "print one JSON object (top1, top5, loss, images_per_second, wall_seconds, checkpoint) last",
  )
  .addHelpText(
    "after",
    examples([
      ["vit train", "the default job: conf/fashion_mnist_tiny.yaml"],
      ["vit train -c conf/vit_b16_pretrain.yaml trainer.max_steps=100", "a shipped config with an override"],
      ["vit train model.num_layers=6 --print-config", "the full config a run would use, then exit"],
      ["vit train --dry-run", "check that the config builds and one step runs"],
      ["vit train trainer.max_epochs=5 --resume step-0000100.safetensors", "continue a run, for longer"],
    ]),
  )
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
  .addHelpText(
    "after",
    examples([
      ["vit eval --checkpoint best.safetensors", "top-1/top-5 on the test split of its config"],
      [
        "vit eval --checkpoint b16.safetensors --data imagenet/val --json",
        "on an ImageFolder (class sub-folders)",
      ],
    ]),
  )
  .action(async (opts) => {
    await evalCommand(opts);
    process.exit(0);
  });

program
  .command("predict")
  .description("top-k classes of images, with the evaluation's resize and centre crop")
  .requiredOption("--checkpoint <file>", "vit checkpoint, or weights from vit convert --to vit")
  .argument("<images...>", "image files (JPEG/PNG/WebP) or folders of them (searched recursively)")
  .option("--topk <k>", "classes per image", "5")
  .option("--batch-size <n>", "images per forward pass", "32")
  .option("--format <format>", "table (readable), csv (one row per image and rank) or json", "table")
  .option("--json", "same as --format json")
  .addHelpText(
    "after",
    examples([
      ["vit predict --checkpoint best.safetensors cat.jpg dog.png", "top-5 of two images"],
      [
        "vit predict --checkpoint best.safetensors photos/ --topk 1 --format csv > labels.csv",
        "label a folder as CSV",
      ],
      [
        "vit predict --checkpoint best.safetensors photos/ --batch-size 64 --format json",
        "JSON, 64 images per batch",
      ],
    ]),
  )
  .action(async (images: string[], opts) => {
    await predictCommand(images, opts);
    process.exit(0);
  });

program
  .command("finetune")
  .description("fine-tune from a vit checkpoint or timm / Hugging Face / NeMo safetensors weights")
  .requiredOption(
    "--from <weights>",
    "checkpoint or .safetensors weights (HF: config.json beside them is read)",
  )
  .option("-c, --config <file>", "YAML config", defaultConfigPath())
  .argument("[overrides...]", "key=value overrides")
  .option("--print-config", "print the resolved config as YAML and exit")
  .option("--dry-run", "build everything, load the weights, run one step and one test batch, keep no files")
  .option("--json", "print one JSON object last")
  .addHelpText(
    "after",
    examples([
      ["vit finetune --from best.safetensors -c conf/vit_b16_finetune.yaml", "from a vit checkpoint"],
      [
        "vit finetune --from vit_base_patch16_224.safetensors -c conf/vit_b16_finetune.yaml model.preset=vit_base_patch16_224",
        "from timm weights, timm's architecture",
      ],
    ]),
  )
  .action(async (overrides: string[], opts) => {
    await finetuneCommand(overrides, opts);
    process.exit(0);
  });

program
  .command("convert")
  .description("rename weights between vit, timm, Hugging Face and NeMo layouts")
  .argument("<input>", "input .safetensors (vit checkpoint or foreign weights)")
  .argument("<output>", "output .safetensors (--to hf: config.json is written beside it)")
  .argument("[overrides...]", "key=value model overrides for foreign inputs")
  .requiredOption("--to <format>", "timm | hf | nemo | vit")
  .option(
    "--preset <name>",
    "architecture of foreign weights (e.g. vit_base_patch16_224; HF: read from config.json)",
  )
  .addHelpText(
    "after",
    examples([
      [
        "vit convert best.safetensors hf/model.safetensors --to hf",
        "a Hugging Face folder: weights + config.json",
      ],
      [
        "vit convert hf/model.safetensors mine.safetensors --to vit",
        "HF weights (config.json beside) to a vit file",
      ],
      [
        "vit convert vit_base_patch16_224.safetensors b16.safetensors --to vit --preset vit_base_patch16_224",
        "timm weights",
      ],
    ]),
  )
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
  .addHelpText(
    "after",
    examples([
      ["vit launch --nproc 2 -- train trainer.devices=2", "data parallel on 2 ranks"],
      [
        "vit launch --nproc 2 -- train trainer.devices=2 model.tensor_model_parallel_size=2",
        "tensor parallel",
      ],
    ]),
  )
  .action(async (command: string[], opts) => {
    process.exit(await launchCommand(command, opts));
  });

program
  .command("model")
  .description("list presets, or print a preset's resolved config and parameter counts (no GPU)")
  .argument("[overrides...]", "key=value overrides")
  .option("--list", "list presets")
  .option("--preset <name>", "preset name (tiny, small, B/16, ..., or timm's: vit_base_patch16_224, ...)")
  .option("--json", "print JSON")
  .addHelpText(
    "after",
    examples([
      ["vit model --list", "every preset with its parameter count"],
      ["vit model --preset vit_base_patch16_224", "timm's ViT-B/16: config and parameter counts"],
      ["vit model --preset B/16 img_h=384 img_w=384 --json", "with overrides, as JSON"],
    ]),
  )
  .action((overrides: string[], opts) => {
    modelCommand(overrides, opts);
    process.exit(0);
  });

program.parseAsync(process.argv).catch(reportAndExit);
