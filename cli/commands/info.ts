/**
 * `info MODEL.gguf [--json]`: architecture, hyperparameters, tensor type histogram, sizes and
 * tokenizer of a GGUF file.
 * @module
 */
import { GgufFile } from "../../src/gguf/reader.ts";
import { type LayerSize, type ModelSummary, summarizeModel } from "../../src/gguf/summary.ts";
import { type Command, parseFlags, UsageError } from "../usage.ts";

const usage = `Usage: info MODEL.gguf [--json]

Prints a GGUF file's architecture, hyperparameters, tensor count and type histogram, total
and per-layer sizes, and tokenizer summary.

Flags:
  --json      print the summary as JSON
  -h, --help  this text`;

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1)} MiB`;
}

/** Runs of consecutive layers with the same size and tensor count, e.g. "blk.1-26". */
function layerRuns(layers: readonly LayerSize[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < layers.length;) {
    let j = i;
    while (
      j + 1 < layers.length && layers[j + 1].bytes === layers[i].bytes &&
      layers[j + 1].tensors === layers[i].tensors && layers[j + 1].layer === layers[j].layer + 1
    ) j++;
    const name = i === j ? `blk.${layers[i].layer}` : `blk.${layers[i].layer}-${layers[j].layer}`;
    const each = i === j ? "" : " each";
    lines.push(
      `  ${name.padEnd(12)} ${megabytes(layers[i].bytes)}${each} (${layers[i].tensors} tensors)`,
    );
    i = j + 1;
  }
  return lines;
}

function formatSummary(s: ModelSummary): string {
  const lines = [
    `file          ${s.path}`,
    `size          ${
      (s.fileBytes / 1e9).toFixed(3)
    } GB (${s.fileBytes} bytes), GGUF v${s.version}, alignment ${s.alignment}`,
    `architecture  ${s.architecture || "(none)"}${s.name ? ` — ${s.name}` : ""}`,
  ];
  const hp = Object.entries(s.hyperparameters);
  if (hp.length > 0) {
    lines.push("hyperparameters");
    const width = Math.max(...hp.map(([k]) => k.length));
    for (const [k, v] of hp) {
      lines.push(`  ${k.padEnd(width)}  ${Array.isArray(v) ? v.join(",") : v}`);
    }
  }
  lines.push(`tensors       ${s.tensorCount}, ${megabytes(s.tensorBytes)}`);
  for (const t of s.types) {
    lines.push(
      `  ${t.type.padEnd(8)} ${String(t.tensors).padStart(5)} tensors  ${megabytes(t.bytes)}`,
    );
  }
  if (s.layers.length > 0) {
    lines.push(`layers        ${s.layers.length}; outside layers ${megabytes(s.nonLayerBytes)}`);
    lines.push(...layerRuns(s.layers));
  }
  const t = s.tokenizer;
  if (t === undefined) {
    lines.push("tokenizer     (none)");
  } else {
    const special = (what: string, v?: { id: number; text: string }) =>
      v === undefined ? "" : `, ${what} ${v.id} ${JSON.stringify(v.text)}`;
    lines.push(
      `tokenizer     ${t.model || "?"} (pre ${
        t.pre || "?"
      }), ${t.tokens} tokens, ${t.merges} merges` +
        special("bos", t.bos) + special("eos", t.eos) +
        (t.chatTemplate ? ", chat template" : ""),
    );
  }
  return lines.join("\n");
}

/** The `info` command. */
export const command: Command = {
  summary: "print a GGUF file's architecture, hyperparameters, tensors, sizes and tokenizer",
  usage,
  run(args: string[]): Promise<number> {
    const { values, positionals } = parseFlags(args, { json: { type: "boolean" } }, true);
    if (positionals.length !== 1) {
      throw new UsageError(`info takes one model path, got ${positionals.length} arguments`);
    }
    using file = GgufFile.open(positionals[0]);
    const summary = summarizeModel(file);
    console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    return Promise.resolve(0);
  },
};
