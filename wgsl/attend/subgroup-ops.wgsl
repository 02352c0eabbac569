// The subgroup operations fold-subgroup.wgsl uses, one function per type (WGSL has no generic
// user functions): the kernel calls only these, so tests can compile it on adapters without
// subgroups by composing it with stand-ins (tests/conformance/fold-sg-compile.ts).
// Needs `enable subgroups;` at the top of the module (shaders.ts adds it).

fn sg_xor1(v: f32, mask: u32) -> f32 { return subgroupShuffleXor(v, mask); }
fn sg_xor2(v: vec2<f32>, mask: u32) -> vec2<f32> { return subgroupShuffleXor(v, mask); }
fn sg_xor4(v: vec4<f32>, mask: u32) -> vec4<f32> { return subgroupShuffleXor(v, mask); }
fn sg_shuffle1(v: f32, src: u32) -> f32 { return subgroupShuffle(v, src); }
fn sg_shuffle2(v: vec2<f32>, src: u32) -> vec2<f32> { return subgroupShuffle(v, src); }
fn sg_shuffle4(v: vec4<f32>, src: u32) -> vec4<f32> { return subgroupShuffle(v, src); }
fn sg_max4(v: vec4<f32>) -> vec4<f32> { return subgroupMax(v); }
fn sg_add1(v: f32) -> f32 { return subgroupAdd(v); }
