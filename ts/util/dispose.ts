/**
 * `using` support (TC39 explicit resource management): gives a class's instances a
 * [Symbol.dispose] that calls their dispose(), where the runtime defines Symbol.dispose (Node
 * >= 20.4, Deno, recent browsers); elsewhere dispose() alone.
 */
export function addSymbolDispose(cls: { prototype: { dispose(): void } }): void {
  const sym = (Symbol as unknown as { dispose?: symbol }).dispose;
  if (typeof sym !== 'symbol') return;
  Object.defineProperty(cls.prototype, sym, {
    value: function (this: { dispose(): void }) { this.dispose(); },
    writable: true, configurable: true,
  });
}
