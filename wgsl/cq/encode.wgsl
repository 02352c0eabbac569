// CQ encode-on-append: tiles of fp32 K or V rows -> codebook indices (docs/FORMAT.md "CQ"),
// words identical to ts/codecs/cq/codec.ts. One invocation per output word: it computes the
// codes of the elements overlapping its word (a straddling code is computed by both words' owners)
// and assembles the word, so no workgroup memory and no atomics are needed.
// Nearest centroid: squared L2 in f32 in channel order (diff, square, add), ties to the lowest index.
// Prepended by the host: wgsl/constants.wgsl; `pages` below is the output tiles (cq_read_code unused).

override HEAD_DIM: u32;

// x: [tile][TILE_TOKENS][HEAD_DIM] f32 bits; job: [tile] KV head of each tile
@group(0) @binding(0) var<storage, read_write> pages: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read> heads: array<u32>;

fn centroid(head: u32, g: u32, k: u32, i: u32, G: u32, K: u32, c: u32) -> f32 {
  let f = ((head * G + g) * K + k) * c + i;
  if (params[2] == 1u) {
    return bitcast<f32>(params[4u + f]);
  }
  let w = params[4u + (f >> 1u)];
  return cq_f16_to_f32(select(w & 0xffffu, w >> 16u, (f & 1u) == 1u));
}

fn nearest(tile: u32, e: u32, head: u32, G: u32, K: u32, c: u32) -> u32 {
  let t = e / G;
  let g = e % G;
  let xo = (tile * TILE_TOKENS + t) * HEAD_DIM + g * c;
  var best = 0u;
  var best_d = 0.0;
  for (var k = 0u; k < K; k = k + 1u) {
    var d = 0.0;
    for (var i = 0u; i < c; i = i + 1u) {
      let diff = x[xo + i] - centroid(head, g, k, i, G, K, c);
      d = d + diff * diff;
    }
    if (k == 0u || d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best;
}

@compute @workgroup_size(64)
fn cq_encode(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let c = params[0];
  let b = params[1];
  let G = HEAD_DIM / c;
  let K = 1u << b;
  let tile_words = G * b;
  let tile = wg.y;
  let w = gid.x;
  if (w >= tile_words) {
    return;
  }
  let head = heads[tile];
  // elements whose bits [e*b, e*b + b) overlap [32w, 32w + 32)
  let first = (32u * w) / b;
  let last = min((32u * w + 31u) / b, TILE_TOKENS * G - 1u);
  var word = 0u;
  for (var e = first; e <= last; e = e + 1u) {
    let code = nearest(tile, e, head, G, K, c);
    let bit = i32(e * b) - i32(32u * w); // may be negative: the code started in the previous word
    if (bit >= 0) {
      word = word | (code << u32(bit));
    } else {
      word = word | (code >> u32(-bit));
    }
  }
  pages[tile * tile_words + w] = word;
}
