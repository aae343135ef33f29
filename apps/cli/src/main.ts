/**
 * The `vit` command. Each subcommand lives in src/commands/; this file only wires them to commander.
 * Dawn keeps the event loop alive while a device exists, so every command exits explicitly.
 */
import { Command } from "commander";
import { infoCommand } from "./commands/info.js";
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

program.parseAsync(process.argv).catch(reportAndExit);
