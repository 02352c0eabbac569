/**
 * C[m][n] (=|+=) scale * sum_k A[m][k] B[n][k]: both operands row-major with k contiguous (the
 * layout of weight matrices [out][in] and of cached keys [token][headDim]), so every product is a
 * dot product of two contiguous rows. Each output sums its k terms in order in one f64
 * accumulator, as matVec (math.ts) does, so a projection computed here for many rows equals the
 * step-by-step pass bit for bit. A 4x4 block of outputs shares its row loads (8 loads per 16
 * multiply-adds); edges fall back to single dots.
 */
export function gemmNT(
  c: Float32Array, cOff: number, ldc: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  m: number, n: number, k: number, accumulate = false, scale = 1,
): void {
  const m4 = m - (m % 4), n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOff + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let t = 0; t < k; t++) {
        const x0 = a[a0 + t]!, x1 = a[a1 + t]!, x2 = a[a2 + t]!, x3 = a[a3 + t]!;
        const y0 = b[b0 + t]!, y1 = b[b1 + t]!, y2 = b[b2 + t]!, y3 = b[b3 + t]!;
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      const r0 = cOff + i * ldc + j, r1 = r0 + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
      if (accumulate) {
        c[r0] = c[r0]! + c00 * scale; c[r0 + 1] = c[r0 + 1]! + c01 * scale; c[r0 + 2] = c[r0 + 2]! + c02 * scale; c[r0 + 3] = c[r0 + 3]! + c03 * scale;
        c[r1] = c[r1]! + c10 * scale; c[r1 + 1] = c[r1 + 1]! + c11 * scale; c[r1 + 2] = c[r1 + 2]! + c12 * scale; c[r1 + 3] = c[r1 + 3]! + c13 * scale;
        c[r2] = c[r2]! + c20 * scale; c[r2 + 1] = c[r2 + 1]! + c21 * scale; c[r2 + 2] = c[r2 + 2]! + c22 * scale; c[r2 + 3] = c[r2 + 3]! + c23 * scale;
        c[r3] = c[r3]! + c30 * scale; c[r3 + 1] = c[r3 + 1]! + c31 * scale; c[r3 + 2] = c[r3 + 2]! + c32 * scale; c[r3 + 3] = c[r3 + 3]! + c33 * scale;
      } else {
        c[r0] = c00 * scale; c[r0 + 1] = c01 * scale; c[r0 + 2] = c02 * scale; c[r0 + 3] = c03 * scale;
        c[r1] = c10 * scale; c[r1 + 1] = c11 * scale; c[r1 + 2] = c12 * scale; c[r1 + 3] = c13 * scale;
        c[r2] = c20 * scale; c[r2 + 1] = c21 * scale; c[r2 + 2] = c22 * scale; c[r2 + 3] = c23 * scale;
        c[r3] = c30 * scale; c[r3 + 1] = c31 * scale; c[r3 + 2] = c32 * scale; c[r3 + 3] = c33 * scale;
      }
    }
    for (let j = n4; j < n; j++) for (let r = 0; r < 4; r++) dotInto(c, cOff + (i + r) * ldc + j, a, aOff + (i + r) * lda, b, bOff + j * ldb, k, accumulate, scale);
  }
  for (let i = m4; i < m; i++) {
    for (let j = 0; j < n; j++) dotInto(c, cOff + i * ldc + j, a, aOff + i * lda, b, bOff + j * ldb, k, accumulate, scale);
  }
}

function dotInto(c: Float32Array, ci: number, a: Float32Array, ai: number, b: Float32Array, bi: number, k: number,
  accumulate: boolean, scale: number): void {
  let acc = 0;
  for (let t = 0; t < k; t++) acc += a[ai + t]! * b[bi + t]!;
  c[ci] = accumulate ? c[ci]! + acc * scale : acc * scale;
}
