// Decode attention over KIVI-2/4 tiles on the GPU's matrix units: scores and value sums as
// 8-bit integer matrix products (i8 x i8 -> i32) of the codes with the query and the
// probabilities, which are written as 4 signed bytes (limbs) of a 28-bit fixed-point number per
// head and tile, so the products are exact and the result keeps float32's precision
// (decisions.md#D22: design, H100 timings). Same bindings, dispatch and partials
// as tiles.wgsl. Bench only (bench/gpu/matrix/driver.ts, variant mx): slower than fold-sg on the H100 (decisions.md#D22, #D27).
//
// One workgroup = one subgroup of 32 invocations walking its work item's tiles; per tile:
// 1. key codes to one byte each in mx_codes (token rows), the query times the tile's key scales
//    as limbs in mx_qb (rows in the codes' order), the bias q . zero;
// 2. mx_key_scores: codes (16 tokens x 32 channels) x limbs (32 channels x MX_N columns: head j's
//    limb l in column 4j + l), summed over the channels;
// 3. invocation t: token t's scores from its 4 limb sums per head, the running softmax, and its
//    weights p s (value scale of each 32-channel group) as limbs in mx_wb; value codes to bytes;
// 4. mx_value_sums: codes (16 channels x 32 tokens) x weights (32 tokens x MX_N);
// 5. invocation t adds its output positions t + 32 i; the value zeros ride along as sums of p z.
// Byte order in a token's row: a code word's codes split by shifts into 8/bits words of 4 bytes
// (code j + (8/bits) b in byte b of word j), mx_channel maps a row position to its channel.
//
// The products are mx-ops.wgsl (subgroup matrices) or mx-ops-emulated.wgsl
// (plain WGSL, for tests on adapters without them), with the subgroup reductions.
// Written out per head and position with literal indices (no function-scope arrays: with Dawn's
// index clamping the first version, with arrays and loops, was slower: decisions.md#D22).
// Glue constants (driver.ts): MX_D (= HEAD_DIM: 64 or 128), MX_N (8 or 16 result columns), MX_G (heads per
// workgroup, 4 MX_G <= MX_N), MX_KB / MX_VB (key / value bits, 2 or 4).

const NEG_INF: f32 = -3.0e38;
// A/B knobs for the bench (-xNAME=false): leave out a stage to time the rest (results wrong then)
const MX_DO_BYTES: bool = true;
const MX_DO_LIMBS: bool = true;
const MX_DO_KEY_MMA: bool = true;
const MX_DO_VALUE_MMA: bool = true;
const MX_PREFETCH: bool = true;
// fixed-point bits of a limb-encoded number: |x| < 2^28 in 4 balanced base-256 digits
const MX_FRAC: i32 = 28;
// value groups per token = output positions per invocation (lane + 32 i); words per limb row
const MX_GROUPS: u32 = MX_D / 32u;
const MX_NW: u32 = MX_N / 4u;
// key / value code words per invocation and tile (32 invocations, 32 tokens: one token's words)
const MX_KW: u32 = MX_D * MX_KB / 32u;
const MX_VW: u32 = MX_D * MX_VB / 32u;

var<workgroup> mx_q: array<f32, MX_G * MX_D>;
// one tile's codes, a byte each: token t's row at byte t MX_D (positions in decode order)
var<workgroup> mx_codes: array<i32, TILE_TOKENS * MX_D / 4u>;
// keys' right operand: row p = limbs of the heads' q s at position p (head j: word j of the row)
var<workgroup> mx_qb: array<i32, MX_D * MX_NW>;
// values' right operands, one per 32-channel group: row t = token t's weight limbs
var<workgroup> mx_wb: array<i32, MX_GROUPS * TILE_TOKENS * MX_NW>;
// results, column-major: keys [column c][token], values [column c][position]
var<workgroup> mx_res: array<i32, MX_D * MX_N>;

// channel of row position p for codes of `bits` bits (decode order, see above)
fn mx_channel(p: u32, bits: u32) -> u32 {
  let per = 8u / bits;
  let pp = p % (4u * per);
  return p - pp + pp / 4u + per * (pp % 4u);
}

// code word number `r` of the invocation's share of a tile (word lane + 32 r of the tile's codes)
// into its bytes: 8 / bits words at mx_codes[(lane + 32 r) 8 / bits]
fn mx_bytes(lane: u32, r: u32, w: u32, bits: u32) {
  let at = (lane + 32u * r) * (8u / bits);
  if (bits == 2u) {
    mx_codes[at] = i32(w & 0x03030303u);
    mx_codes[at + 1u] = i32((w >> 2u) & 0x03030303u);
    mx_codes[at + 2u] = i32((w >> 4u) & 0x03030303u);
    mx_codes[at + 3u] = i32((w >> 6u) & 0x03030303u);
  } else {
    mx_codes[at] = i32(w & 0x0f0f0f0fu);
    mx_codes[at + 1u] = i32((w >> 4u) & 0x0f0f0f0fu);
  }
}

// words 4 v .. 4 v + 3 of the invocation's share
fn mx_bytes4(lane: u32, v: u32, w: vec4<u32>, bits: u32) {
  mx_bytes(lane, 4u * v, w.x, bits);
  mx_bytes(lane, 4u * v + 1u, w.y, bits);
  mx_bytes(lane, 4u * v + 2u, w.z, bits);
  mx_bytes(lane, 4u * v + 3u, w.w, bits);
}

// x (|x| < 2^28 after scaling) rounded, as 4 signed bytes in one word: balanced base-256 digits,
// d_l = q_l mod 256 in [-128, 128) and q_{l+1} = (q_l + 128) >> 8 (the top digit is q_3)
fn mx_limbs(x: f32) -> i32 {
  let q0 = i32(round(x));
  let q1 = (q0 + 128) >> 8u;
  let q2 = (q1 + 128) >> 8u;
  let q3 = (q2 + 128) >> 8u;
  return (q0 & 255) | ((q1 & 255) << 8u) | ((q2 & 255) << 16u) | (q3 << 24u);
}

// a number from its 4 limb sums at mx_res[r + stride l] (exact integers below 2^24 each)
fn mx_unlimb(r: u32, stride: u32) -> f32 {
  return ((f32(mx_res[r + 3u * stride]) * 256.0 + f32(mx_res[r + 2u * stride])) * 256.0
    + f32(mx_res[r + stride])) * 256.0 + f32(mx_res[r]);
}

// the heads' queries at channel c (heads in the components, 0 beyond MX_G)
fn mx_query(c: u32) -> vec4<f32> {
  var q = vec4<f32>(mx_q[c], 0.0, 0.0, 0.0);
  if (MX_G > 1u) { q.y = mx_q[MX_D + c]; }
  if (MX_G > 2u) { q.z = mx_q[2u * MX_D + c]; }
  if (MX_G > 3u) { q.w = mx_q[3u * MX_D + c]; }
  return q;
}

// the heads' limb words of row `row` of a right operand (x: heads in the components)
fn mx_put_limbs(row: u32, x: vec4<f32>, to_fixed: vec4<f32>, is_key: bool) {
  let at = row * MX_NW;
  let y = x * to_fixed;
  if (is_key) {
    mx_qb[at] = mx_limbs(y.x);
    if (MX_G > 1u) { mx_qb[at + 1u] = mx_limbs(y.y); }
    if (MX_G > 2u) { mx_qb[at + 2u] = mx_limbs(y.z); }
    if (MX_G > 3u) { mx_qb[at + 3u] = mx_limbs(y.w); }
  } else {
    mx_wb[at] = mx_limbs(y.x);
    if (MX_G > 1u) { mx_wb[at + 1u] = mx_limbs(y.y); }
    if (MX_G > 2u) { mx_wb[at + 2u] = mx_limbs(y.z); }
    if (MX_G > 3u) { mx_wb[at + 3u] = mx_limbs(y.w); }
  }
}

// Every word of one tile the invocation uses: key metadata of its positions lane + 32 i (km[i]),
// its token's value metadata (vm[g]) and the tile's code words lane + 32 r (kw r/4 [r%4], vw ...)
struct MxTile {
  km: vec4<u32>,
  vm: vec4<u32>,
  kw0: vec4<u32>, kw1: vec4<u32>, kw2: vec4<u32>, kw3: vec4<u32>,
  vw0: vec4<u32>, vw1: vec4<u32>, vw2: vec4<u32>, vw3: vec4<u32>,
}

fn mx_load4(w0: u32) -> vec4<u32> {
  return vec4<u32>(pages[w0], pages[w0 + 32u], pages[w0 + 64u], pages[w0 + 96u]);
}

fn mx_load(kbase: u32, lane: u32) -> MxTile {
  let z = vec4<u32>(0u);
  var t = MxTile(z, z, z, z, z, z, z, z, z, z);
  let vbase = kbase + V_OFFSET;
  t.km.x = pages[kbase + mx_channel(lane, MX_KB)];
  t.km.y = pages[kbase + mx_channel(lane + 32u, MX_KB)];
  t.vm.x = pages[vbase + lane * MX_GROUPS];
  t.vm.y = pages[vbase + lane * MX_GROUPS + 1u];
  if (MX_GROUPS > 2u) {
    t.km.z = pages[kbase + mx_channel(lane + 64u, MX_KB)];
    t.km.w = pages[kbase + mx_channel(lane + 96u, MX_KB)];
    t.vm.z = pages[vbase + lane * MX_GROUPS + 2u];
    t.vm.w = pages[vbase + lane * MX_GROUPS + 3u];
  }
  let k0 = kbase + MX_D + lane;
  let v0 = vbase + TILE_TOKENS * MX_GROUPS + lane;
  t.kw0 = mx_load4(k0);
  if (MX_KW > 4u) { t.kw1 = mx_load4(k0 + 128u); }
  if (MX_KW > 8u) { t.kw2 = mx_load4(k0 + 256u); t.kw3 = mx_load4(k0 + 384u); }
  t.vw0 = mx_load4(v0);
  if (MX_VW > 4u) { t.vw1 = mx_load4(v0 + 128u); }
  if (MX_VW > 8u) { t.vw2 = mx_load4(v0 + 256u); t.vw3 = mx_load4(v0 + 384u); }
  return t;
}

// q s and q z at position lane + 32 i (s, z: the key metadata word of its channel)
struct MxQ { qs: vec4<f32>, bias: vec4<f32> }

fn mx_fold_q(lane: u32, i: u32, km: u32) -> MxQ {
  let sz = unpack2x16float(km);
  let q = mx_query(mx_channel(lane + 32u * i, MX_KB));
  return MxQ(q * sz.x, q * sz.y);
}

// the heads' value sums (limb-decoded) at output positions lane + 32 i, i < 4 (components)
fn mx_value_x(lane: u32, j: u32) -> vec4<f32> {
  let r = 4u * j * MX_D + lane;
  var x = vec4<f32>(mx_unlimb(r, MX_D), mx_unlimb(r + 32u, MX_D), 0.0, 0.0);
  if (MX_GROUPS > 2u) { x.z = mx_unlimb(r + 64u, MX_D); x.w = mx_unlimb(r + 96u, MX_D); }
  return x;
}

// head j's outputs: positions lane + 32 i (acc: components i), value zeros per group (zs)
fn mx_write(out: u32, lane: u32, acc: vec4<f32>, zs: vec4<f32>) {
  partials[out + 2u + mx_channel(lane, MX_VB)] = acc.x + zs.x;
  partials[out + 2u + mx_channel(lane + 32u, MX_VB)] = acc.y + zs.y;
  if (MX_GROUPS > 2u) {
    partials[out + 2u + mx_channel(lane + 64u, MX_VB)] = acc.z + zs.z;
    partials[out + 2u + mx_channel(lane + 96u, MX_VB)] = acc.w + zs.w;
  }
}

fn mx_head(v: vec4<f32>, j: u32) -> f32 {
  return select(select(v.x, v.y, j == 1u), select(v.z, v.w, j == 3u), j >= 2u);
}

@compute @workgroup_size(32)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let it = work_item(wg, MX_G);
  let first_tile = it.first_tile; let n_tiles = it.n_tiles; let slot = it.slot; let entries = it.entries;
  let kv_head = it.kv_head; let ng = it.ng; let h0 = it.h0;
  let q_off = job[2u] + (it.seq * N_HEADS + h0) * HEAD_DIM;
  let q_scale = inverseSqrt(f32(MX_D));
  for (var i = lane; i < MX_G * MX_D; i += 32u) {
    mx_q[i] = bitcast<f32>(job[q_off + min(i / MX_D, ng - 1u) * MX_D + i % MX_D]) * q_scale;
  }
  // limb words of unused columns (heads MX_G..MX_NW-1) stay 0
  for (var i = lane; i < MX_D * MX_NW; i += 32u) { mx_qb[i] = 0; }
  for (var i = lane; i < MX_GROUPS * TILE_TOKENS * MX_NW; i += 32u) { mx_wb[i] = 0; }
  workgroupBarrier();

  var m = vec4<f32>(NEG_INF); // running max per head (the same in every invocation)
  var l = vec4<f32>(0.0);     // this invocation's tokens' softmax sums, per head
  // per head j: output positions lane + 32 i in the components
  var acc0 = vec4<f32>(0.0); var acc1 = acc0; var acc2 = acc0; var acc3 = acc0;
  // per value group g: this invocation's tokens' sums of p zero, heads in the components
  var z0 = vec4<f32>(0.0); var z1 = z0; var z2 = z0; var z3 = z0;

  var nxt = MxTile(vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u));
  if (MX_PREFETCH && n_tiles > 0u) { nxt = mx_load(job[entries + 2u * first_tile] + kv_head * HEAD_STRIDE, lane); }
  for (var ti = 0u; ti < n_tiles; ti++) {
    let e = entries + 2u * (first_tile + ti);
    let valid = job[e + 1u];
    var tw = nxt;
    if (MX_PREFETCH) {
      if (ti + 1u < n_tiles) { nxt = mx_load(job[e + 2u] + kv_head * HEAD_STRIDE, lane); }
    } else {
      tw = mx_load(job[e] + kv_head * HEAD_STRIDE, lane);
    }

    // ---- 1. key codes as bytes; q s as limbs (exponent per head from the tile's largest |q s|)
    if (MX_DO_BYTES) {
      mx_bytes4(lane, 0u, tw.kw0, MX_KB);
      if (MX_KW > 4u) { mx_bytes4(lane, 1u, tw.kw1, MX_KB); }
      if (MX_KW > 8u) { mx_bytes4(lane, 2u, tw.kw2, MX_KB); mx_bytes4(lane, 3u, tw.kw3, MX_KB); }
    }
    let f0 = mx_fold_q(lane, 0u, tw.km.x);
    let f1 = mx_fold_q(lane, 1u, tw.km.y);
    var f2 = MxQ(vec4<f32>(0.0), vec4<f32>(0.0)); var f3 = f2;
    if (MX_GROUPS > 2u) { f2 = mx_fold_q(lane, 2u, tw.km.z); f3 = mx_fold_q(lane, 3u, tw.km.w); }
    let qmax = max(max(abs(f0.qs), abs(f1.qs)), max(abs(f2.qs), abs(f3.qs)));
    let k_exp = frexp(mx_max4(qmax, lane)).exp;
    if (MX_DO_LIMBS) {
      let k_to_fixed = ldexp(vec4<f32>(1.0), vec4<i32>(MX_FRAC) - k_exp);
      mx_put_limbs(lane, f0.qs, k_to_fixed, true);
      mx_put_limbs(lane + 32u, f1.qs, k_to_fixed, true);
      if (MX_GROUPS > 2u) { mx_put_limbs(lane + 64u, f2.qs, k_to_fixed, true); mx_put_limbs(lane + 96u, f3.qs, k_to_fixed, true); }
    }
    let bias = mx_add4(f0.bias + f1.bias + f2.bias + f3.bias, lane);
    workgroupBarrier();

    // ---- 2. scores: codes x limbs
    if (MX_DO_KEY_MMA) { for (var tb = 0u; tb < TILE_TOKENS / 16u; tb++) { mx_key_scores(tb, lane); } }
    workgroupBarrier();

    // ---- 3. token `lane`: scores, softmax, value weights as limbs, value codes as bytes
    let k_unit = ldexp(vec4<f32>(1.0), k_exp - vec4<i32>(MX_FRAC));
    var s = vec4<f32>(mx_unlimb(lane, TILE_TOKENS), NEG_INF, NEG_INF, NEG_INF);
    if (MX_G > 1u) { s.y = mx_unlimb(4u * TILE_TOKENS + lane, TILE_TOKENS); }
    if (MX_G > 2u) { s.z = mx_unlimb(8u * TILE_TOKENS + lane, TILE_TOKENS); }
    if (MX_G > 3u) { s.w = mx_unlimb(12u * TILE_TOKENS + lane, TILE_TOKENS); }
    s = select(vec4<f32>(NEG_INF), s * k_unit + bias, vec4<bool>(lane < valid) & vec4<bool>(true, MX_G > 1u, MX_G > 2u, MX_G > 3u));
    let mt = max(m, mx_max4(s, lane));
    let c = exp(m - mt);
    let p = exp(s - mt);
    m = mt;
    l = l * c + p;
    // weights p s < 2^v_exp: one exponent for the tile from its largest value scale (p <= 1)
    let ok = lane < valid;
    let sz0 = select(vec2<f32>(0.0), unpack2x16float(tw.vm.x), ok);
    let sz1 = select(vec2<f32>(0.0), unpack2x16float(tw.vm.y), ok);
    var sz2 = vec2<f32>(0.0); var sz3 = sz2;
    if (MX_GROUPS > 2u) { sz2 = select(sz2, unpack2x16float(tw.vm.z), ok); sz3 = select(sz3, unpack2x16float(tw.vm.w), ok); }
    z0 = z0 * c + p * sz0.y;
    z1 = z1 * c + p * sz1.y;
    z2 = z2 * c + p * sz2.y;
    z3 = z3 * c + p * sz3.y;
    let v_exp = frexp(mx_max4(vec4<f32>(max(max(sz0.x, sz1.x), max(sz2.x, sz3.x))), lane).x).exp;
    if (MX_DO_LIMBS) {
      let v_to_fixed = vec4<f32>(ldexp(1.0, MX_FRAC - v_exp));
      mx_put_limbs(lane, p * sz0.x, v_to_fixed, false);
      mx_put_limbs(TILE_TOKENS + lane, p * sz1.x, v_to_fixed, false);
      if (MX_GROUPS > 2u) {
        mx_put_limbs(2u * TILE_TOKENS + lane, p * sz2.x, v_to_fixed, false);
        mx_put_limbs(3u * TILE_TOKENS + lane, p * sz3.x, v_to_fixed, false);
      }
    }
    if (MX_DO_BYTES) {
      mx_bytes4(lane, 0u, tw.vw0, MX_VB);
      if (MX_VW > 4u) { mx_bytes4(lane, 1u, tw.vw1, MX_VB); }
      if (MX_VW > 8u) { mx_bytes4(lane, 2u, tw.vw2, MX_VB); mx_bytes4(lane, 3u, tw.vw3, MX_VB); }
    }
    workgroupBarrier();

    // ---- 4. value sums: codes x weights, per 16 positions
    if (MX_DO_VALUE_MMA) { for (var cb = 0u; cb < MX_D / 16u; cb++) { mx_value_sums(cb, lane); } }
    workgroupBarrier();

    // ---- 5. output positions lane + 32 i
    let v_unit = ldexp(1.0, v_exp - MX_FRAC);
    acc0 = acc0 * c.x + mx_value_x(lane, 0u) * v_unit;
    if (MX_G > 1u) { acc1 = acc1 * c.y + mx_value_x(lane, 1u) * v_unit; }
    if (MX_G > 2u) { acc2 = acc2 * c.z + mx_value_x(lane, 2u) * v_unit; }
    if (MX_G > 3u) { acc3 = acc3 * c.w + mx_value_x(lane, 3u) * v_unit; }
  }

  // ---- end: softmax sums and value zeros over the tokens, outputs in model channels
  let l_sum = mx_add4(l, lane);
  // zs_j: head j's value-zero sums of the groups (components)
  let g0s = mx_add4(z0, lane);
  let g1s = mx_add4(z1, lane);
  let g2s = mx_add4(z2, lane);
  let g3s = mx_add4(z3, lane);
  for (var j = 0u; j < ng; j++) {
    let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
    let zs = vec4<f32>(mx_head(g0s, j), mx_head(g1s, j), mx_head(g2s, j), mx_head(g3s, j));
    var a = acc0;
    if (j == 1u) { a = acc1; } else if (j == 2u) { a = acc2; } else if (j == 3u) { a = acc3; }
    mx_write(out, lane, a, zs);
    if (lane == 0u) {
      partials[out] = mx_head(m, j);
      partials[out + 1u] = mx_head(l_sum, j);
    }
  }
}
