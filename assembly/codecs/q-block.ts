// Scale region shared by q8_0 and q4_0: one f16 per 32-element block, pairs per word
// (block 2j in bits 0-15 of word j, block 2j+1 in bits 16-31), i.e. u16 b of the region.
import { f16BitsToF32, metaF16Bits } from '../f16';

export const Q_BLOCK: i32 = 32;

@inline
export function blockScale(tile: usize, b: i32): f32 {
  return f16BitsToF32(<u32>load<u16>(tile + (<usize>b << 1)));
}

@inline
export function storeBlockScale(out: usize, b: i32, s: f32): void {
  store<u16>(out + (<usize>b << 1), <u16>metaF16Bits(s));
}
