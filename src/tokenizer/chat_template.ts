/**
 * Chat prompt formats of the DeepSeek family, rendered the way llama.cpp's built-in templates
 * do (`llm_chat_apply_template`), and recognised from a model's Jinja template by the same
 * substring tests (`llm_chat_detect_template`). No Jinja is evaluated.
 * @module
 */
import { OptionError } from "../errors.ts";

/**
 * One chat turn.
 *
 * @example
 * ```ts
 * import type { ChatMessage } from "./chat_template.ts";
 * const turn: ChatMessage = { role: "user", content: "Hello" };
 * ```
 */
export interface ChatMessage {
  /** Who speaks. */
  role: "system" | "user" | "assistant";
  /** What they say (used verbatim, not trimmed). */
  content: string;
}

/**
 * The built-in chat formats: DeepSeek-V2 ("deepseek2"), DeepSeek-V3 ("deepseek3") and
 * deepseek-coder-instruct ("deepseek").
 *
 * @example
 * ```ts
 * import { CHAT_TEMPLATE_NAMES } from "./chat_template.ts";
 * console.log(CHAT_TEMPLATE_NAMES.join(", "));
 * ```
 */
export const CHAT_TEMPLATE_NAMES = ["deepseek2", "deepseek3", "deepseek"] as const;

/**
 * One of {@link CHAT_TEMPLATE_NAMES}.
 *
 * @example
 * ```ts
 * import type { ChatTemplateName } from "./chat_template.ts";
 * const name: ChatTemplateName = "deepseek2";
 * ```
 */
export type ChatTemplateName = typeof CHAT_TEMPLATE_NAMES[number];

/**
 * Options of {@link applyChatTemplate}.
 *
 * @example
 * ```ts
 * import type { ChatTemplateOptions } from "./chat_template.ts";
 * const opts: ChatTemplateOptions = { template: "deepseek3", addGenerationPrompt: true };
 * ```
 */
export interface ChatTemplateOptions {
  /**
   * A template name from {@link CHAT_TEMPLATE_NAMES}, or a model's Jinja template text
   * (`tokenizer.chat_template`) to recognise. Default `"deepseek2"`.
   */
  template?: string;
  /** Whether to end with the assistant's turn opener. Default `true`. */
  addGenerationPrompt?: boolean;
}

const EOS = "<｜end▁of▁sentence｜>";

/**
 * Names the built-in format a Jinja chat template corresponds to, or `undefined`.
 *
 * @example
 * ```ts
 * import { detectChatTemplate } from "./chat_template.ts";
 * console.log(detectChatTemplate("{{ 'Assistant: ' + message['content'] + eos_token }}")); // "deepseek2"
 * ```
 *
 * @param template A template name or Jinja template text.
 * @returns The format's name, or undefined when it is not a DeepSeek format.
 */
export function detectChatTemplate(template: string): ChatTemplateName | undefined {
  if ((CHAT_TEMPLATE_NAMES as readonly string[]).includes(template)) {
    return template as ChatTemplateName;
  }
  // Same tests, same order as llama.cpp, restricted to the DeepSeek family.
  if (template.includes("### Instruction:") && template.includes("<|EOT|>")) return "deepseek";
  if (template.includes("'Assistant: ' + message['content'] + eos_token")) return "deepseek2";
  if (
    template.includes("<｜Assistant｜>") && template.includes("<｜User｜>") &&
    template.includes(EOS)
  ) return "deepseek3";
  return undefined;
}

/**
 * Renders a conversation as prompt text. BOS is not included: `Tokenizer.encode` adds it
 * (DeepSeek sets `add_bos_token`). Special tokens in the result (`<｜end▁of▁sentence｜>`,
 * `<｜User｜>`…) need `encode(text, { special: true })`.
 *
 * @example
 * ```ts
 * import { applyChatTemplate } from "./chat_template.ts";
 * const prompt = applyChatTemplate([{ role: "user", content: "Hi" }], {});
 * console.log(JSON.stringify(prompt)); // "User: Hi\n\nAssistant:"
 * ```
 *
 * @param messages The conversation, oldest first.
 * @param opts Template and generation prompt.
 * @returns The prompt text.
 * @throws {OptionError} When the template is not recognised or a role is invalid.
 */
export function applyChatTemplate(
  messages: readonly ChatMessage[],
  opts: ChatTemplateOptions = {},
): string {
  const source = opts.template ?? "deepseek2";
  const name = detectChatTemplate(source);
  if (name === undefined) {
    const shown = source.length > 60 ? `${source.slice(0, 60)}…` : source;
    throw new OptionError(
      `Chat template ${JSON.stringify(shown)} is not recognised; use one of ` +
        CHAT_TEMPLATE_NAMES.join(", ") + " or a DeepSeek Jinja template",
    );
  }
  const parts: string[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.role !== "system" && m.role !== "user" && m.role !== "assistant") {
      throw new OptionError(`Message ${i} has role "${m.role}"; use system, user or assistant`);
    }
    if (typeof m.content !== "string") {
      throw new OptionError(`Message ${i} content must be a string`);
    }
    parts.push(renderMessage(name, m));
  }
  if (opts.addGenerationPrompt ?? true) parts.push(GENERATION_PROMPT[name]);
  return parts.join("");
}

const GENERATION_PROMPT: Record<ChatTemplateName, string> = {
  deepseek2: "Assistant:",
  deepseek3: "<｜Assistant｜>",
  deepseek: "### Response:\n",
};

function renderMessage(name: ChatTemplateName, m: ChatMessage): string {
  switch (name) {
    case "deepseek2":
      // DeepSeek-V2: a system message is plain text followed by a blank line.
      if (m.role === "system") return `${m.content}\n\n`;
      if (m.role === "user") return `User: ${m.content}\n\n`;
      return `Assistant: ${m.content}${EOS}`;
    case "deepseek3":
      if (m.role === "system") return `${m.content}\n\n`;
      if (m.role === "user") return `<｜User｜>${m.content}`;
      return `<｜Assistant｜>${m.content}${EOS}`;
    case "deepseek":
      // deepseek-coder-instruct
      if (m.role === "system") return m.content;
      if (m.role === "user") return `### Instruction:\n${m.content}\n`;
      return `### Response:\n${m.content}\n<|EOT|>\n`;
  }
}
