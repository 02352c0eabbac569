// The non-attention kernels of one LLaMA-shaped decoder layer for the end-to-end step bench
// (bench/gpu/decoder-step.ts): batch 1, f32 activations, weights as f16 pairs in u32 words
// (row-major [out][in], element 2j in the low half of word j). Plain WGSL (no subgroups, no
// f16 arithmetic), so the same file runs on the software adapters; the matrix-vector product
// is a simple bandwidth kernel, not a tuned GEMV (bench/README.md says how it compares).

override IN_LEN: u32 = 8u;         // matvec: input length (multiple of 8)
override OUT_LEN: u32 = 1u;        // matvec: output rows
override ACCUMULATE: bool = false; // matvec: y += W x (residual add) instead of y = W x
override DIM: u32 = 256u;      // rmsnorm: vector length
override HEAD_DIM: u32 = 128u; // rope
override ROPE_HEADS: u32 = 1u; // rope: query + key heads at the start of the qkv vector
override ROPE_THETA: f32 = 10000.0;
override FFN: u32 = 1u;        // swiglu: hidden size (gate rows then up rows)

const ROWS: u32 = 4u;   // matvec rows per workgroup
const LANES: u32 = 64u; // invocations per row

@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

fn dot8(wv: vec4<u32>, i: u32) -> f32 {
  let a = x[2u * i];
  let b = x[2u * i + 1u];
  return dot(vec4<f32>(unpack2x16float(wv.x), unpack2x16float(wv.y)), a) +
    dot(vec4<f32>(unpack2x16float(wv.z), unpack2x16float(wv.w)), b);
}

@compute @workgroup_size(256)
fn matvec(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let row = wg.x * ROWS + li / LANES;
  let lane = li % LANES;
  let words = IN_LEN / 8u;
  var acc = 0.0;
  if (row < OUT_LEN) {
    let base = row * words;
    var i = lane;
    // two independent loads in flight per invocation
    for (; i + LANES < words; i += 2u * LANES) {
      let w0 = w[base + i];
      let w1 = w[base + i + LANES];
      acc += dot8(w0, i) + dot8(w1, i + LANES);
    }
    if (i < words) { acc += dot8(w[base + i], i); }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < OUT_LEN) {
    y[row] = select(0.0, y[row], ACCUMULATE) + red[li];
  }
}

// ---- rmsnorm: y = x / sqrt(mean(x^2) + eps) * gamma, one workgroup
@group(0) @binding(0) var<storage, read> rn_x: array<f32>;
@group(0) @binding(1) var<storage, read> rn_gamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> rn_y: array<f32>;

@compute @workgroup_size(256)
fn rmsnorm(@builtin(local_invocation_index) li: u32) {
  var ss = 0.0;
  for (var i = li; i < DIM; i += 256u) { let v = rn_x[i]; ss += v * v; }
  red[li] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(red[0] / f32(DIM) + 1e-5);
  for (var i = li; i < DIM; i += 256u) { rn_y[i] = rn_x[i] * inv * rn_gamma[i]; }
}

// ---- rope (rotate-half form, as Hugging Face LLaMA): pairs (i, i + d/2) of every query and
// key head at position pos[0]
@group(0) @binding(0) var<storage, read_write> rope_qk: array<f32>;
@group(0) @binding(1) var<storage, read> rope_pos: array<u32>;

@compute @workgroup_size(64)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = HEAD_DIM / 2u;
  if (gid.x >= ROPE_HEADS * half) { return; }
  let head = gid.x / half;
  let i = gid.x % half;
  let freq = pow(ROPE_THETA, -2.0 * f32(i) / f32(HEAD_DIM));
  let angle = f32(rope_pos[0]) * freq;
  let c = cos(angle);
  let s = sin(angle);
  let a = head * HEAD_DIM + i;
  let x0 = rope_qk[a];
  let x1 = rope_qk[a + half];
  rope_qk[a] = x0 * c - x1 * s;
  rope_qk[a + half] = x1 * c + x0 * s;
}

// ---- swiglu: h = silu(gate) * up, gu = [gate (FFN) | up (FFN)]
@group(0) @binding(0) var<storage, read> sw_gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> sw_h: array<f32>;

@compute @workgroup_size(256)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= FFN) { return; }
  let g = sw_gu[i];
  sw_h[i] = g / (1.0 + exp(-g)) * sw_gu[FFN + i];
}

// ---- the position advances on the GPU at the end of a step (no host write per step)
@group(0) @binding(0) var<storage, read_write> step_pos: array<u32>;

@compute @workgroup_size(1)
fn advance() {
  step_pos[0] = step_pos[0] + 1u;
}

// ---- seeded weights: f16 pairs uniform in [-scale, scale] from a hashed (seed, index)
struct FillCfg { seed: u32, words: u32, scale: f32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> fill_w: array<u32>;
@group(0) @binding(1) var<storage, read> fill_cfg: FillCfg;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let t = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (t >> 22u) ^ t;
}

@compute @workgroup_size(256)
fn fill_f16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  let key = pcg(fill_cfg.seed);
  for (var i = gid.x; i < fill_cfg.words; i += stride) {
    let r = pcg(i ^ key);
    let a = f32(r & 0xffffu) / 32768.0 - 1.0;
    let b = f32(r >> 16u) / 32768.0 - 1.0;
    fill_w[i] = pack2x16float(vec2<f32>(a, b) * fill_cfg.scale);
  }
}
