// Streaming-read ceiling: every invocation reads vec4<u32> words and folds them with xor, so the
// read cannot be optimized away; one word per workgroup is written. Two access orders: `main`
// (grid-stride: each pass of the grid reads one contiguous slab) and `blocked` (each workgroup
// reads its own contiguous range). Attention kernels are compared with the best of both,
// measured in the same run (bench/gpu/stream-read.ts).
override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * WORKGROUP_SIZE;
  let n = arrayLength(&src);
  var acc = vec4<u32>(0u);
  var i = gid.x;
  // Four independent loads in flight per iteration.
  loop {
    if (i + 3u * stride >= n) { break; }
    acc ^= src[i] ^ src[i + stride] ^ src[i + 2u * stride] ^ src[i + 3u * stride];
    i += 4u * stride;
  }
  loop {
    if (i >= n) { break; }
    acc ^= src[i];
    i += stride;
  }
  let x = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (x == 0x9e3779b9u) { sink[wid.x] = x + lid; } // practically never true; keeps the loads live
}

// Each workgroup streams its own contiguous 1/num_workgroups of the buffer, 4 loads in flight.
@compute @workgroup_size(WORKGROUP_SIZE)
fn blocked(@builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let n = arrayLength(&src);
  let per = (n + nwg.x - 1u) / nwg.x;
  let begin = wid.x * per;
  let end = min(n, begin + per);
  var acc = vec4<u32>(0u);
  var i = begin + lid;
  loop {
    if (i + 3u * WORKGROUP_SIZE >= end) { break; }
    acc ^= src[i] ^ src[i + WORKGROUP_SIZE] ^ src[i + 2u * WORKGROUP_SIZE] ^ src[i + 3u * WORKGROUP_SIZE];
    i += 4u * WORKGROUP_SIZE;
  }
  loop {
    if (i >= end) { break; }
    acc ^= src[i];
    i += WORKGROUP_SIZE;
  }
  let x = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (x == 0x9e3779b9u) { sink[wid.x] = x + lid; }
}
