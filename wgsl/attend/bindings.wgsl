// Pipeline constants, bindings and the work item of every tile-attention kernel (tiles.wgsl, the
// folded drivers attend/fold*.wgsl, the matrix kernel kivi/matrix.wgsl), composed before them.
// The KIVI word-load path of tiles.wgsl swaps the `pages` declaration for a vec4 view
// (shaders.ts attendTilesSource). Kernels that do not use a constant still declare it, so every
// pipeline constant the host sets applies.

override HEAD_DIM: u32;
override N_HEADS: u32;
// Query heads per KV head.
override GROUP: u32;
// tiles.wgsl: invocations per token in the key pass, min(4, HEAD_DIM / 8); the workgroup has 32 * LANES.
override LANES: u32 = 4u;
// Word distance between consecutive KV heads' tile pairs in a slot, and of V behind K.
override HEAD_STRIDE: u32;
override V_OFFSET: u32;
// Codec parameters for the hooks: bits per code and word offsets of each stream's params.
override K_BITS: u32 = 0u;
override V_BITS: u32 = 0u;
override K_PARAMS: u32 = 0u;
override V_PARAMS: u32 = 0u;

@group(0) @binding(0) var<storage, read> pages: array<u32>;
// [0] work items, [1] offset of the tile entries, [2] offset of the queries (f32 bits);
// work item i at 4 + 4 i: (batch sequence, first tile entry, tile count, partial slot);
// tile entry k: (slot word offset, valid tokens <= TILE_TOKENS).
@group(0) @binding(1) var<storage, read> job: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
// partial slot s, head h: m at (s * N_HEADS + h) * (HEAD_DIM + 2), then l, then acc[HEAD_DIM]
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

// One work item of the dispatch (x: work item, y: KV head, z: block of `heads` query heads): its
// tiles, partial slot, KV head and block of query heads (ng of them are real; heads >= ng of the
// block repeat head ng - 1 and write nothing), first query head h0, offset of the tile entries.
struct WorkItem {
  seq: u32,
  first_tile: u32,
  n_tiles: u32,
  slot: u32,
  kv_head: u32,
  ng: u32,
  h0: u32,
  entries: u32,
}

fn work_item(wg: vec3<u32>, heads: u32) -> WorkItem {
  let item = 4u + 4u * wg.x;
  let g0 = wg.z * heads;
  return WorkItem(job[item], job[item + 1u], job[item + 2u], job[item + 3u], wg.y,
    min(heads, GROUP - g0), wg.y * GROUP + g0, job[1u]);
}
