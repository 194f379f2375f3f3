/** Options every wrapper call accepts. */
export interface CallOptions {
  /** Cancels the call (a pending wait, an open stream) when aborted; it then rejects with CANCELLED. */
  signal?: AbortSignal;
  /** gRPC deadline for the call, in milliseconds from now; past it the call fails with DEADLINE_EXCEEDED. */
  callTimeoutMs?: number;
}

/** The transport-level options derived from CallOptions. */
export function transportOptions(opts: CallOptions | undefined, signal?: AbortSignal): { signal?: AbortSignal; timeoutMs?: number } {
  const out: { signal?: AbortSignal; timeoutMs?: number } = {};
  const s = signal ?? opts?.signal;
  if (s !== undefined) out.signal = s;
  if (opts?.callTimeoutMs !== undefined) out.timeoutMs = opts.callTimeoutMs;
  return out;
}
