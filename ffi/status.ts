/**
 * Status codes returned by every libflashmla export (mirror of `zig-kernels/src/status.zig`)
 * and the one place that turns them into errors.
 * @module
 */
import { NativeError } from "../src/errors.ts";

/** Status codes; 0 is success. */
export const Status = {
  ok: 0,
  invalidArgument: -1,
  outOfMemory: -2,
  ioError: -3,
  fileNotFound: -4,
  unsupportedType: -5,
  threadSpawnFailed: -6,
  shapeMismatch: -7,
} as const;

const statusNames: Record<number, string> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name]),
);

/**
 * Throws a `NativeError` naming `what` unless `code` is `Status.ok`.
 *
 * @param code The status returned by a native call.
 * @param what What was being done, for the message (e.g. `mapping "model.gguf"`).
 */
export function unwrap(code: number, what: string): void {
  if (code === Status.ok) return;
  const name = statusNames[code] ?? `unknown status ${code}`;
  throw new NativeError(`Native call failed while ${what}: ${name}`, code);
}
