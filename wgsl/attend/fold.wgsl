// Decode attention with the codec folded into the arithmetic (issue 6, GPU speed; KIVI-2/4:
// kivi/fold.wgsl, SKVQ: skvq/fold.wgsl, interface: attend/fold-common.wgsl),
// cross-invocation sums through workgroup memory (runs on every adapter; fold-subgroup.wgsl is the
// subgroup version). Same bindings, dispatch (work item, KV head, block of FOLD_G query
// heads) and partial (m, l, acc) layout as wgsl/attend/tiles.wgsl, so attend/merge.wgsl and the
// job/partials buffers are shared. Selected by shaders.ts chooseAttendKernel for KIVI keys and
// values of 2 or 4 bits, and SKVQ pairs, at HEAD_DIM 64 or 128.
//
// Why (bench/README.md): tiles.wgsl spends 3 barriers and a workgroup-memory softmax on every
// 32-token tile and decodes every element to f32 (shift, mask, u32 -> f32 convert, FMA with
// scale and zero) before the dot products; on the H100 kivi2 and fp16 took the same time.
// Here the work per element is what the arithmetic needs:
// - keys: KIVI's per-channel (scale s, zero z) of a tile are folded into the query once per
//   tile: q . (s code + z) = (q s) . code + q . z, and the bias q . z rides along with the
//   partial dot products;
// - values: per (token, 32-channel group) (s, z): acc += (p s) code, and p z into one sum per
//   group added at the end;
// - codes become floats without a convert: (bits & mask) | 0x4B000000 is the f32 2^23 + code
//   * 2^k exactly (k = the code's bit position in its 16-bit half), minus 2^23 gives code * 2^k;
//   the 2^-k is folded into q (keys) or applied once at the end (values).
// - layout: a workgroup is FOLD_W groups of 32 invocations ("rows"); per round every row takes
//   one tile. Invocation (tg, k) of a row owns channels 8k..8k+7 and tokens tg + TG i of the
//   tile (TG = 32 / FOLD_LPT token groups, FOLD_LPT tokens each). Two barriers per round of
//   FOLD_W tiles: after the partial dot products (summed per token through `red`) and after
//   the scores. Each invocation keeps its own online softmax (m, l) over the tokens it sees, so
//   no tile-wide max is needed; the row states merge once at the end of the work item.
//
// Composed with (shaders.ts): constants.wgsl, the glue constants, common/f16.wgsl,
// attend/fold-common.wgsl (constants, bindings, lanes, queries), the codec's fold file, this file.

// words per token in `red`: FOLD_LPT partials + 1 of padding (a stride of 16 words would put
// the 32 tokens a score pass reads on 2 of the 32 banks)
const FOLD_RS: u32 = FOLD_LPT + 1u;

// partial dot products per (row, head, token, lane k); at the end, lane accumulators
var<workgroup> red: array<f32, FOLD_W * FOLD_G * TILE_TOKENS * FOLD_RS>;
// scores per (row, token), the workgroup's heads in the components
var<workgroup> sc: array<vec4<f32>, FOLD_W * TILE_TOKENS>;
// at the end: per (row, token group) m and l
var<workgroup> ms: array<f32, FOLD_W * TILE_TOKENS>;
var<workgroup> ls: array<f32, FOLD_W * TILE_TOKENS>;

// one token's partial dot products (heads in the components) into red at ri, head stride hs
fn fold_key1(d: vec4<f32>, ri: u32) {
  let hs = TILE_TOKENS * FOLD_RS;
  red[ri] = d.x;
  if (FOLD_G > 1u) { red[ri + hs] = d.y; }
  if (FOLD_G > 2u) { red[ri + 2u * hs] = d.z; }
  if (FOLD_G > 3u) { red[ri + 3u * hs] = d.w; }
}

// 4 tokens of the key pass into red: ri0 = red index of the first, rstep between tokens
// (written out, not a loop over words[u]: no dynamically indexed vectors in the hot loop)
fn fold_key4(fq: FoldQ, tw: TileWords, o: TileOffsets, b: u32, ri0: u32, rstep: u32) {
  let d = fold_key_batch(fq, tw, o, b);
  fold_key1(d[0], ri0);
  fold_key1(d[1], ri0 + rstep);
  fold_key1(d[2], ri0 + 2u * rstep);
  fold_key1(d[3], ri0 + 3u * rstep);
}

// one token of the value pass from its scores s: p = exp(s - m) per head, then the value add
fn fold_value1(st: ptr<function, FoldAcc>, m: vec4<f32>, tw: TileWords, o: TileOffsets, b: u32, u: u32, s: vec4<f32>) {
  var p = vec4<f32>(0.0);
  p.x = exp(s.x - m.x);
  if (FOLD_G > 1u) { p.y = exp(s.y - m.y); }
  if (FOLD_G > 2u) { p.z = exp(s.z - m.z); }
  if (FOLD_G > 3u) { p.w = exp(s.w - m.w); }
  (*st).l = (*st).l + p;
  fold_value_token(st, tw, o, b, u, p);
}

// 4 tokens of the value pass; s0 = sc index of the first, TG between tokens; tokens >= valid skipped
fn fold_value4(st: ptr<function, FoldAcc>, m: vec4<f32>, tw: TileWords, o: TileOffsets, b: u32, s0: u32, tt0: u32, tstep: u32, valid: u32) {
  if (tt0 < valid) { fold_value1(st, m, tw, o, b, 0u, sc[s0]); }
  if (tt0 + tstep < valid) { fold_value1(st, m, tw, o, b, 1u, sc[s0 + tstep]); }
  if (tt0 + 2u * tstep < valid) { fold_value1(st, m, tw, o, b, 2u, sc[s0 + 2u * tstep]); }
  if (tt0 + 3u * tstep < valid) { fold_value1(st, m, tw, o, b, 3u, sc[s0 + 3u * tstep]); }
}

// running max over 4 tokens' scores
fn fold_max4(m: vec4<f32>, s0: u32, tstep: u32) -> vec4<f32> {
  return max(max(m, max(sc[s0], sc[s0 + tstep])), max(sc[s0 + 2u * tstep], sc[s0 + 3u * tstep]));
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
  let rstep = TG * FOLD_RS; // red words between this invocation's tokens
  var st = fold_acc_zero();
  var m = vec4<f32>(NEG_INF);

  let rounds = (n_tiles + FOLD_W - 1u) / FOLD_W;
  for (var r = 0u; r < rounds; r = r + 1u) {
    let ti = r * FOLD_W + row;
    let live = ti < n_tiles;
    var kbase = 0u;
    var valid = 0u;
    if (live) {
      let e = entries + 2u * (first_tile + ti);
      kbase = job[e] + kv_head * HEAD_STRIDE;
      valid = job[e + 1u];
    }
    let rb = row * FOLD_G; // this row's (row, head) block in red

    // ---- loads first (fold_load_tile)
    var tw = fold_tile_zero();
    if (live) { tw = fold_load_tile(kbase, offs); }
    // ---- keys: fold (s, z) of channels c0..c0+7 into the queries, then partial dots
    if (live) {
      let fq = fold_query(tw, offs, qv);
      let ri = (rb * TILE_TOKENS + tg) * FOLD_RS + k;
      fold_key4(fq, tw, offs, 0u, ri, rstep);
      fold_key4(fq, tw, offs, 1u, ri + 4u * rstep, rstep);
      if (FOLD_LPT > 8u) {
        fold_key4(fq, tw, offs, 2u, ri + 8u * rstep, rstep);
        fold_key4(fq, tw, offs, 3u, ri + 12u * rstep, rstep);
      }
    }
    workgroupBarrier();
    // ---- scores: invocation `lane` sums token `lane`'s FOLD_LPT partials, for each head
    if (live) {
      var s4 = vec4<f32>(0.0);
      let ri = (rb * TILE_TOKENS + lane) * FOLD_RS;
      let hs = TILE_TOKENS * FOLD_RS;
      for (var u = 0u; u < FOLD_LPT; u = u + 1u) {
        s4.x = s4.x + red[ri + u];
        if (FOLD_G > 1u) { s4.y = s4.y + red[ri + hs + u]; }
        if (FOLD_G > 2u) { s4.z = s4.z + red[ri + 2u * hs + u]; }
        if (FOLD_G > 3u) { s4.w = s4.w + red[ri + 3u * hs + u]; }
      }
      sc[row * TILE_TOKENS + lane] = select(vec4<f32>(NEG_INF), s4, lane < valid);
    }
    workgroupBarrier();
    // ---- values: own online softmax over this invocation's tokens, then fold p s into codes
    if (live) {
      let s0 = row * TILE_TOKENS + tg;
      var mt = fold_max4(m, s0, TG);
      mt = fold_max4(mt, s0 + 4u * TG, TG);
      if (FOLD_LPT > 8u) {
        mt = fold_max4(mt, s0 + 8u * TG, TG);
        mt = fold_max4(mt, s0 + 12u * TG, TG);
      }
      // rescale the running state to the new max (exp(NEG_INF - finite) = 0)
      var c = vec4<f32>(1.0);
      c.x = exp(m.x - mt.x);
      if (FOLD_G > 1u) { c.y = exp(m.y - mt.y); }
      if (FOLD_G > 2u) { c.z = exp(m.z - mt.z); }
      if (FOLD_G > 3u) { c.w = exp(m.w - mt.w); }
      m = mt;
      fold_rescale(&st, c);
      fold_value4(&st, m, tw, offs, 0u, s0, tg, TG, valid);
      fold_value4(&st, m, tw, offs, 1u, s0 + 4u * TG, tg + 4u * TG, TG, valid);
      if (FOLD_LPT > 8u) {
        fold_value4(&st, m, tw, offs, 2u, s0 + 8u * TG, tg + 8u * TG, TG, valid);
        fold_value4(&st, m, tw, offs, 3u, s0 + 12u * TG, tg + 12u * TG, TG, valid);
      }
    }
    // the next round writes red before its first barrier (every invocation has passed this
    // round's second barrier, so no one still sums red) and sc only after it (no one still reads)
  }

  // ---- merge the states of the FOLD_W * TG token groups, one head at a time
  let states = FOLD_W * TG;
  for (var j = 0u; j < FOLD_G; j = j + 1u) {
    workgroupBarrier();
    if (k == 0u) {
      ms[row * TG + tg] = m[j];
      ls[row * TG + tg] = st.l[j];
    }
    let o8 = fold_output(st, offs, j);
    let o = lid * 8u;
    red[o] = o8.lo.x; red[o + 1u] = o8.lo.y; red[o + 2u] = o8.lo.z; red[o + 3u] = o8.lo.w;
    red[o + 4u] = o8.hi.x; red[o + 5u] = o8.hi.y; red[o + 6u] = o8.hi.z; red[o + 7u] = o8.hi.w;
    workgroupBarrier();
    var mh = NEG_INF;
    for (var u = 0u; u < states; u = u + 1u) { mh = max(mh, ms[u]); }
    if (j < ng) {
      let out = ((slot * N_HEADS) + h0 + j) * (HEAD_DIM + 2u);
      for (var ch = lid; ch < HEAD_DIM; ch = ch + FOLD_WG) {
        let kk = ch / 8u;
        var sum = 0.0;
        for (var u = 0u; u < states; u = u + 1u) {
          // state u = (row, token group); its lane for chunk kk
          let src = (u / TG) * 32u + (u % TG) * FOLD_LPT + kk;
          sum = sum + red[src * 8u + ch % 8u] * exp(ms[u] - mh);
        }
        partials[out + 2u + fold_out_channel(kv_head, ch)] = sum;
      }
      if (lid == 0u) {
        var lh = 0.0;
        for (var u = 0u; u < states; u = u + 1u) { lh = lh + ls[u] * exp(ms[u] - mh); }
        partials[out] = mh;
        partials[out + 1u] = lh;
      }
    }
  }
}
