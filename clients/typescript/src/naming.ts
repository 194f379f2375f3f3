/**
 * Names the server in an UNAVAILABLE error that does not name it yet, so that a refused
 * connection says which address was tried (docs/clients.md, "Errors"). Shared by the Node
 * and browser entry points; imports nothing from Node.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** An interceptor adding `(server AUTHORITY)` to UNAVAILABLE errors of unary calls and streams. */
export function namingServer(authority: string): Interceptor {
  const rename = (err: unknown): unknown => {
    const ce = ConnectError.from(err);
    if (ce.code !== Code.Unavailable || ce.rawMessage.includes(authority)) return err;
    // Details are dropped: a transport-made UNAVAILABLE carries none.
    return new ConnectError(`${ce.rawMessage} (server ${authority})`, ce.code, ce.metadata, undefined, err);
  };
  async function* renamed<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (err) {
      throw rename(err);
    }
  }
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: renamed(res.message) } : res;
    } catch (err) {
      throw rename(err);
    }
  };
}
