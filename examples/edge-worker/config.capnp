# workerd config for the kvpack edge worker: `node build.mjs` first (copies the kvpack bundle and
# both WASM builds into out/ and writes out/cache.bin), then
#   npx workerd serve config.capnp --socket-addr http=127.0.0.1:8787
# Speed: this workload (integer KIVI kernels) runs at Node's speed; the float kernels of q8_0
# and of KIVI with integerAttention: false take ~1.25x Node's time, because workerd runs WASM
# without V8's trap handler (explicit bounds checks; docs/decisions.md D162). Do not add
# v8Flags = ["--no-wasm-bounds-checks"]: it removes that cost by letting out-of-bounds accesses
# through, a bench diagnostic only (bench/workerd-wasm.mjs).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .kvpackWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const kvpackWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "workload.js", esModule = embed "workload.js"),
    (name = "kvpack.js", esModule = embed "out/kvpack.js"),
    # precompiled by workerd at load: the worker gets WebAssembly.Module objects
    (name = "kvpack.wasm", wasm = embed "out/kvpack.wasm"),
    (name = "kvpack-relaxed.wasm", wasm = embed "out/kvpack-relaxed.wasm"),
    # PackedKvCache.serialize() bytes (an ArrayBuffer in the worker)
    (name = "cache.bin", data = embed "out/cache.bin"),
  ],
  compatibilityDate = "2025-09-01",
);
