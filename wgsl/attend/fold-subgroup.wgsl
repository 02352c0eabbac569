// Folded decode attention (KIVI-2/4: kivi/fold.wgsl, SKVQ: skvq/fold.wgsl; the
// interface: attend/fold-common.wgsl) with the cross-invocation sums done by subgroup shuffles
// instead of workgroup memory and barriers. Used where the adapter has the `subgroups` feature
// and every subgroup has 32 invocations (probed: ts/backends/webgpu/subgroups.ts); fold.wgsl
// elsewhere. Same bindings, dispatch
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
//   the invocations that hold them and accumulates its 8 channels as in fold.wgsl;
// - end: token groups add up by shuffle-xor, rows merge once through workgroup memory.
//
// Composed with (shaders.ts): the enable/diagnostic prelude, constants.wgsl, the glue constants,
// common/f16.wgsl, attend/fold-common.wgsl, the codec's fold file, attend/subgroup-ops.wgsl,
// this file.


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

// partial dots of tokens 4b..4b+3, transposed: column j = head j's partials of the 4 tokens
fn sg_key4(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32) -> mat4x4<f32> {
  return transpose(fold_key_batch(fq, tw, o, b));
}

// the probabilities (heads in the components) held by invocation `src` of the row
fn sg_take(p: vec4<f32>, src: u32) -> vec4<f32> {
  if (FOLD_G == 1u) { return vec4<f32>(sg_shuffle1(p.x, src), 0.0, 0.0, 0.0); }
  if (FOLD_G == 2u) { return vec4<f32>(sg_shuffle2(p.xy, src), 0.0, 0.0); }
  return sg_shuffle4(p, src);
}

// this invocation's value tokens 4b..4b+3, probabilities from lanes src0..src0+3
fn sg_value4(st: ptr<function, FoldAcc>, p: vec4<f32>, tw: TileWords, o: TileOffsets, b: u32, src0: u32) {
  fold_value_token(st, tw, o, b, 0u, sg_take(p, src0));
  fold_value_token(st, tw, o, b, 1u, sg_take(p, src0 + 1u));
  fold_value_token(st, tw, o, b, 2u, sg_take(p, src0 + 2u));
  fold_value_token(st, tw, o, b, 3u, sg_take(p, src0 + 3u));
}

@compute @workgroup_size(FOLD_WG)
fn attend_tiles(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let it = fold_begin(wg, lid);
  let first_tile = it.first_tile; let n_tiles = it.n_tiles; let slot = it.slot; let entries = it.entries;
  let kv_head = it.kv_head; let ng = it.ng; let h0 = it.h0;
  let ln = fold_lane(lid);
  let row = ln.row; let lane = ln.lane; let tg = ln.tg; let k = ln.k;
  let qv = ln.qv;
  let TG = 32u / FOLD_LPT;
  let offs = fold_offsets(tg, k, kv_head);
  let my_token = tg + TG * k; // the token whose score this invocation holds after the scatter
  let src = tg * FOLD_LPT;    // invocation holding the first token of this token group
  var st = fold_acc_zero();
  var m = vec4<f32>(NEG_INF); // per row and head (the same in every invocation of the row)

  // FOLD_PREFETCH: the next tile's words are loaded before the current tile is computed
  // (more bytes in flight, more registers: faster with several heads per workgroup on the H100)
  var nxt = fold_tile_zero();
  if (FOLD_PREFETCH && row < n_tiles) { nxt = fold_load_tile(job[entries + 2u * (first_tile + row)] + kv_head * HEAD_STRIDE, offs); }
  for (var ti = row; ti < n_tiles; ti = ti + FOLD_W) {
    let valid = job[entries + 2u * (first_tile + ti) + 1u];
    var tw = nxt;
    if (FOLD_PREFETCH) {
      if (ti + FOLD_W < n_tiles) { nxt = fold_load_tile(job[entries + 2u * (first_tile + ti + FOLD_W)] + kv_head * HEAD_STRIDE, offs); }
    } else {
      tw = fold_load_tile(job[entries + 2u * (first_tile + ti)] + kv_head * HEAD_STRIDE, offs);
    }

    // ---- keys: partial dots, then each invocation ends with one token's scores
    let fq = fold_query(tw, offs, qv);
    let K0 = sg_key4(fq, tw, offs, 0u);
    let K1 = sg_key4(fq, tw, offs, 1u);
    var K2 = mat4x4<f32>(); var K3 = K2;
    if (FOLD_LPT > 8u) { K2 = sg_key4(fq, tw, offs, 2u); K3 = sg_key4(fq, tw, offs, 3u); }
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
    sg_value4(&st, p, tw, offs, 0u, src);
    sg_value4(&st, p, tw, offs, 1u, src + 4u);
    if (FOLD_LPT > 8u) {
      sg_value4(&st, p, tw, offs, 2u, src + 8u);
      sg_value4(&st, p, tw, offs, 3u, src + 12u);
    }
  }

  // ---- end: sum the token groups of each row by shuffles, then the rows in workgroup memory
  for (var j = 0u; j < FOLD_G; j = j + 1u) {
    var o8 = fold_output(st, offs, j);
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
        partials[out + 2u + fold_out_channel(kv_head, ch)] = sum;
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
