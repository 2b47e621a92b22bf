/**
 * The `flashmla` command line: `deno run -A cli/main.ts <command> [flags]`.
 * Each command lives in `cli/commands/<name>.ts` and is loaded only when used.
 * @module
 */
import { FlashMlaError } from "../src/errors.ts";
import { type Command, UsageError } from "./usage.ts";

/** Command name → module loader. Add a command by adding a line here. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  run: () => import("./commands/run.ts"),
  chat: () => import("./commands/chat.ts"),
  bench: () => import("./commands/bench.ts"),
  demo: () => import("./commands/demo.ts"),
  tokenize: () => import("./commands/tokenize.ts"),
  synth: () => import("./commands/synth.ts"),
  info: () => import("./commands/info.ts"),
  logits: () => import("./commands/logits.ts"),
};

function mainUsage(): string {
  return [
    "flashmla — DeepSeek-V2-class MLA models on the CPU",
    "",
    "Usage: deno run -A cli/main.ts <command> [flags]   (or: deno task flashmla <command>)",
    "",
    "Commands:",
    ...Object.keys(COMMANDS).map((name) => `  ${name}`),
    "",
    "Run `<command> --help` for a command's flags.",
  ].join("\n");
}

/**
 * Runs the CLI with `args` and returns the process exit code: 0 success, 1 failure,
 * 2 bad usage.
 *
 * @param args Command-line arguments, command name first.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(mainUsage());
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    console.error(`error: unknown command "${name}"\n\n${mainUsage()}`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    if (e instanceof FlashMlaError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
