// EXPERIMENT (bench only): sg-noval, derived from wgsl/attend/kivi-fold-sg.wgsl at commit 3a96d72
// KIVI-2/4 decode attention, folded arithmetic (attend/kivi-fold-common.wgsl) with the
// cross-invocation sums done by subgroup shuffles instead of workgroup memory and barriers.
// Used where the adapter has the `subgroups` feature and every subgroup has 32 invocations
// (probed: ts/backends/webgpu/subgroups.ts); kivi-fold.wgsl elsewhere. Same bindings, dispatch
// and partials as tiles.wgsl. The shader source starts with `enable subgroups;` and turns the
// subgroup-uniformity diagnostic off (shaders.ts): the shuffles run under conditions that are
// uniform per row of 32 invocations (= one subgroup), which the analysis cannot see.
//
// Why (bench/README.md, ablations on the H100): with workgroup memory, the two barriers per
// round and the score/max passes through `red` and `sc` cost about as much as the key or the
// value arithmetic. Here each row (subgroup) walks its own tiles with no barrier at all:
// - keys: invocation (tg, k) computes partial dots of its 8 channels for its FOLD_LPT tokens,
//   then a reduce-scatter over the FOLD_LPT invocations of the token group (shuffle-xor 8, 4,
//   2, 1 on halving vectors) leaves each invocation with the full score of one token;
// - softmax: one running max per row and head (subgroupMax of the tile's scores), one exp per
//   token (not per token and invocation), the row's l summed once at the end;
// - values: invocation (tg, k) takes the probabilities of its tokens by subgroupShuffle from
//   the invocations that hold them and accumulates its 8 channels as in kivi-fold.wgsl;
// - end: token groups add up by shuffle-xor, rows merge once through workgroup memory.
//
// Composed with (shaders.ts): the enable/diagnostic prelude, constants.wgsl, the glue constants,
// common/f16.wgsl, attend/kivi-fold-common.wgsl, attend/subgroup-ops.wgsl, this file.

const FOLD_WG: u32 = 32u * FOLD_W;

// end of the work item: per row m and l of the head being merged, and the row's accumulators
var<workgroup> ms: array<f32, FOLD_W>;
var<workgroup> ls: array<f32, FOLD_W>;
var<workgroup> acc_sh: array<f32, FOLD_W * FOLD_LPT * 8u>;

// Sum over the FOLD_LPT invocations of a token group of their partials of tokens 0..FOLD_LPT-1
// (tokens 4i..4i+3 in p_i); invocation k gets token k's sum (recursive halving by shuffle-xor).
fn sg_scatter(p0: vec4<f32>, p1: vec4<f32>, p2: vec4<f32>, p3: vec4<f32>, k: u32) -> f32 {
  var r0 = p0;
  var r1 = p1;
  if (FOLD_LPT > 8u) {
    let up = (k & 8u) != 0u;
    r0 = select(p0, p2, up) + sg_xor4(select(p2, p0, up), 8u);
    r1 = select(p1, p3, up) + sg_xor4(select(p3, p1, up), 8u);
  }
  let b2 = (k & 4u) != 0u;
  let t = select(r0, r1, b2) + sg_xor4(select(r1, r0, b2), 4u);
  let b1 = (k & 2u) != 0u;
  let u = select(t.xy, t.zw, b1) + sg_xor2(select(t.zw, t.xy, b1), 2u);
  let b0 = (k & 1u) != 0u;
  return select(u.x, u.y, b0) + sg_xor1(select(u.y, u.x, b0), 1u);
}

// 4 tokens' partial dots, transposed: column j = head j's partials of the 4 tokens
fn sg_key4(fq: FoldQ, words: vec4<u32>, sh: u32) -> mat4x4<f32> {
  return transpose(mat4x4<f32>(fold_key_dots(fq, words.x, sh), fold_key_dots(fq, words.y, sh),
    fold_key_dots(fq, words.z, sh), fold_key_dots(fq, words.w, sh)));
}

// the probabilities (heads in the components) held by invocation `src` of the row
fn sg_take(p: vec4<f32>, src: u32) -> vec4<f32> {
  if (FOLD_G == 1u) { return vec4<f32>(sg_shuffle1(p.x, src), 0.0, 0.0, 0.0); }
  if (FOLD_G == 2u) { return vec4<f32>(sg_shuffle2(p.xy, src), 0.0, 0.0); }
  return sg_shuffle4(p, src);
}

// 4 of this invocation's value tokens: word/meta vectors, probabilities from lanes src0..src0+3
fn sg_value4(st: ptr<function, FoldAcc>, p: vec4<f32>, words: vec4<u32>, metas: vec4<u32>, sh: u32, src0: u32) {
  fold_value_add(st, words.x, metas.x, sg_take(p, src0), sh);
  fold_value_add(st, words.y, metas.y, sg_take(p, src0 + 1u), sh);
  fold_value_add(st, words.z, metas.z, sg_take(p, src0 + 2u), sh);
  fold_value_add(st, words.w, metas.w, sg_take(p, src0 + 3u), sh);
}

@compute @workgroup_size(FOLD_WG)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let item = 4u + 4u * wg.x;
  let seq = job[item];
  let first_tile = job[item + 1u];
  let n_tiles = job[item + 2u];
  let slot = job[item + 3u];
  let kv_head = wg.y;
  let g0 = wg.z * FOLD_G;
  let ng = min(FOLD_G, GROUP - g0); // heads of this block; heads >= ng repeat head ng - 1
  let h0 = kv_head * GROUP + g0;
  let d4 = HEAD_DIM / 4u;
  let scale = inverseSqrt(f32(HEAD_DIM));
  let entries = job[1u];

  let q_off = job[2u] + (seq * N_HEADS + h0) * HEAD_DIM;
  for (var i = lid; i < FOLD_G * d4; i = i + FOLD_WG) {
    let j = min(i / d4, ng - 1u);
    let w = q_off + j * HEAD_DIM + 4u * (i % d4);
    q_sh[i] = bitcast<vec4<f32>>(vec4<u32>(job[w], job[w + 1u], job[w + 2u], job[w + 3u])) * scale;
  }
  workgroupBarrier();

  let row = lid / 32u;
  let lane = lid % 32u;
  let TG = 32u / FOLD_LPT;
  let k = lane % FOLD_LPT;
  let tg = lane / FOLD_LPT;
  let c0 = 8u * k;
  let qv = 2u * k;
  let k_sh = select(0u, ((c0 * K_BITS) & 31u), K_BITS == 2u);
  let v_sh = select(0u, ((c0 * V_BITS) & 31u), V_BITS == 2u);
  let v_groups = HEAD_DIM / 32u;
  let k_tok = HEAD_DIM * K_BITS / 32u;
  let v_tok = HEAD_DIM * V_BITS / 32u;
  let k_off = HEAD_DIM + tg * k_tok + ((c0 * K_BITS) >> 5u);
  let vm_off = tg * v_groups + c0 / 32u;
  let vw_off = TILE_TOKENS * v_groups + tg * v_tok + ((c0 * V_BITS) >> 5u);
  let my_token = tg + TG * k; // the token whose score this invocation holds after the scatter
  let src = tg * FOLD_LPT;    // invocation holding the first token of this token group
  let zero8 = Codes8(vec4<f32>(0.0), vec4<f32>(0.0));
  var st = FoldAcc(vec4<f32>(0.0), vec4<f32>(0.0), zero8, zero8, zero8, zero8);
  var m = vec4<f32>(NEG_INF); // per row and head (the same in every invocation of the row)

  for (var ti = row; ti < n_tiles; ti = ti + FOLD_W) {
    let e = entries + 2u * (first_tile + ti);
    let kbase = job[e] + kv_head * HEAD_STRIDE;
    let valid = job[e + 1u];
    let vbase = kbase + V_OFFSET;

    // ---- loads first (see kivi-fold.wgsl)
    let km0 = fold_load4(kbase + c0, 1u);
    let km1 = fold_load4(kbase + c0 + 4u, 1u);
    let ks = TG * k_tok; let ms4 = TG * v_groups; let vs = TG * v_tok;
    let kw0 = fold_load4(kbase + k_off, ks);
    let vm0 = fold_load4(vbase + vm_off, ms4);
    let vw0 = fold_load4(vbase + vw_off, vs);
    let kw1 = fold_load4(kbase + k_off + 4u * ks, ks);
    let vm1 = fold_load4(vbase + vm_off + 4u * ms4, ms4);
    let vw1 = fold_load4(vbase + vw_off + 4u * vs, vs);
    var kw2 = vec4<u32>(0u); var kw3 = kw2; var vm2 = kw2; var vm3 = kw2; var vw2 = kw2; var vw3 = kw2;
    if (FOLD_LPT > 8u) {
      kw2 = fold_load4(kbase + k_off + 8u * ks, ks);
      vm2 = fold_load4(vbase + vm_off + 8u * ms4, ms4);
      vw2 = fold_load4(vbase + vw_off + 8u * vs, vs);
      kw3 = fold_load4(kbase + k_off + 12u * ks, ks);
      vm3 = fold_load4(vbase + vm_off + 12u * ms4, ms4);
      vw3 = fold_load4(vbase + vw_off + 12u * vs, vs);
    }

    // ---- keys: partial dots, then each invocation ends with one token's scores
    let fq = fold_query(km0, km1, qv);
    let K0 = sg_key4(fq, kw0, k_sh);
    let K1 = sg_key4(fq, kw1, k_sh);
    var K2 = mat4x4<f32>(); var K3 = K2;
    if (FOLD_LPT > 8u) { K2 = sg_key4(fq, kw2, k_sh); K3 = sg_key4(fq, kw3, k_sh); }
    var s = vec4<f32>(NEG_INF);
    s.x = sg_scatter(K0[0], K1[0], K2[0], K3[0], k);
    if (FOLD_G > 1u) { s.y = sg_scatter(K0[1], K1[1], K2[1], K3[1], k); }
    if (FOLD_G > 2u) { s.z = sg_scatter(K0[2], K1[2], K2[2], K3[2], k); }
    if (FOLD_G > 3u) { s.w = sg_scatter(K0[3], K1[3], K2[3], K3[3], k); }
    s = select(vec4<f32>(NEG_INF), s, my_token < valid);

    // ---- softmax: the row's running max, one exp per token and head
    let mt = max(m, sg_max4(s));
    var c = vec4<f32>(1.0);
    var p = vec4<f32>(0.0);
    c.x = exp(m.x - mt.x); p.x = exp(s.x - mt.x);
    if (FOLD_G > 1u) { c.y = exp(m.y - mt.y); p.y = exp(s.y - mt.y); }
    if (FOLD_G > 2u) { c.z = exp(m.z - mt.z); p.z = exp(s.z - mt.z); }
    if (FOLD_G > 3u) { c.w = exp(m.w - mt.w); p.w = exp(s.w - mt.w); }
    m = mt;
    fold_rescale(&st, c);
    st.l = st.l + p;

    // ---- values: probabilities of this invocation's tokens tg + TG i from invocation (tg, i)
    let xx = vw0 ^ vw1 ^ vw2 ^ vw3 ^ vm0 ^ vm1 ^ vm2 ^ vm3;
    st.z.x = st.z.x + f32((xx.x ^ xx.y ^ xx.z ^ xx.w) & 1u) * p.x;
  }

  // ---- end: sum the token groups of each row by shuffles, then the rows in workgroup memory
  for (var j = 0u; j < FOLD_G; j = j + 1u) {
    var o8 = fold_output(st, j);
    for (var x = FOLD_LPT; x < 32u; x = x * 2u) {
      o8.lo = o8.lo + sg_xor4(o8.lo, x);
      o8.hi = o8.hi + sg_xor4(o8.hi, x);
    }
    let l_row = sg_add1(st.l[j]);
    workgroupBarrier();
    if (lane == 0u) {
      ms[row] = m[j];
      ls[row] = l_row;
    }
    if (tg == 0u) {
      let o = (row * FOLD_LPT + k) * 8u;
      acc_sh[o] = o8.lo.x; acc_sh[o + 1u] = o8.lo.y; acc_sh[o + 2u] = o8.lo.z; acc_sh[o + 3u] = o8.lo.w;
      acc_sh[o + 4u] = o8.hi.x; acc_sh[o + 5u] = o8.hi.y; acc_sh[o + 6u] = o8.hi.z; acc_sh[o + 7u] = o8.hi.w;
    }
    workgroupBarrier();
    var mh = NEG_INF;
    for (var u = 0u; u < FOLD_W; u = u + 1u) { mh = max(mh, ms[u]); }
    if (j < ng) {
      let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
      for (var ch = lid; ch < HEAD_DIM; ch = ch + FOLD_WG) {
        var sum = 0.0;
        // a row without tiles has m = NEG_INF and zero sums: its factor exp(NEG_INF - mh) is 0
        for (var u = 0u; u < FOLD_W; u = u + 1u) { sum = sum + acc_sh[u * HEAD_DIM + ch] * exp(ms[u] - mh); }
        partials[out + 2u + ch] = sum;
      }
      if (lid == 0u) {
        var lh = 0.0;
        for (var u = 0u; u < FOLD_W; u = u + 1u) { lh = lh + ls[u] * exp(ms[u] - mh); }
        partials[out] = mh;
        partials[out + 1u] = lh;
      }
    }
  }
}
