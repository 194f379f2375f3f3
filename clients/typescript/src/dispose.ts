/**
 * Makes `Symbol.asyncDispose` and `Symbol.dispose` exist at run time.
 *
 * TypeScript lowers `await using` to helpers that look these symbols up; Node 20.4+ defines
 * them, older Node 20 releases do not, so we install the same well-known symbols the
 * explicit-resource-management proposal specifies (`Symbol.for` keeps them shared with any
 * other polyfill in the process).
 */
const symbols = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol };
if (symbols.asyncDispose === undefined) {
  Object.defineProperty(Symbol, "asyncDispose", { value: Symbol.for("nodejs.asyncDispose") });
}
if (symbols.dispose === undefined) {
  Object.defineProperty(Symbol, "dispose", { value: Symbol.for("nodejs.dispose") });
}

export {};
