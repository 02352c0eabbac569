/**
 * QAQ's attention window (Dong et al. 2024, arXiv 2403.04643, "attention window"; reference
 * code: `attentions[:, :, :, -last_n_attentions:, :]` then `amax`): a token's importance is
 * predicted by the LARGEST weight it received from the last W queries, not by the latest one,
 * because quantization cannot be undone: a token that was briefly important (or whose
 * importance comes back) keeps the bits that moment asked for. Tokens that have not yet been
 * seen by W queries get bitsMax (the reference code's rule for the last W-1 tokens); in kvpack
 * they normally stay in the fp32 tail until they have (the cache's window >= W by default).
 *
 * One tracker per sequence; `units` = quantization groups that get their own widths (KV heads
 * for level 'head', 1 for 'layer'). A row's weight of token j for a unit is the max over the
 * unit's query heads. Per row the tracker keeps the largest weight of any token (top1), which
 * tail token had it (or -1) and the largest weight of any other token (top2), so
 * max_{j != i} a_j of the key formula is exact for every tail token i.
 */
export class AttentionWindow {
  /**
   * Rows of the attention matrix so far: queries recorded, and those reserved by attends whose
   * weights land later (an asynchronous kernel, docs/reliability.md "QAQ"): a row is numbered
   * when its attend is called, so arrivals and seals count it as sequential execution does.
   */
  rows = 0;
  /** The row whose weights each ring slot holds (-1: none): a late record never overwrites a newer row. */
  private ringRow: Float64Array;
  private top1: Float64Array;
  private top1Pos: Float64Array;
  private top2: Float64Array;
  /** [slot][unit][W] weights of tail tokens, ring-indexed by row % W. */
  private hist: Float32Array;
  /** Row count when the token in each tail slot arrived. */
  private firstRow: Float64Array;

  constructor(readonly units: number, readonly window: number, public capacity: number) {
    this.top1 = new Float64Array(units * window);
    this.top1Pos = new Float64Array(units * window).fill(-1);
    this.top2 = new Float64Array(units * window);
    this.hist = new Float32Array(capacity * units * window);
    this.firstRow = new Float64Array(capacity);
    this.ringRow = new Float64Array(window).fill(-1);
  }

  /** Numbers the next row (an attend that will record later); see `record`'s `row`. */
  reserve(): number {
    return this.rows++;
  }

  /** The state of the first `slots` tail slots, as saved (docs/FORMAT.md, "Saved caches"). */
  exportState(slots: number): { rows: number; top1: Float64Array; top1Pos: Float64Array; top2: Float64Array; hist: Float32Array; firstRow: Float64Array } {
    return {
      rows: this.rows, top1: this.top1, top1Pos: this.top1Pos, top2: this.top2,
      hist: this.hist.subarray(0, slots * this.units * this.window), firstRow: this.firstRow.subarray(0, slots),
    };
  }

  /** A tracker holding a saved state (arrays adopted; capacity = the saved slots until grow()). */
  static fromState(units: number, window: number, st: ReturnType<AttentionWindow['exportState']>): AttentionWindow {
    const w = new AttentionWindow(units, window, 0);
    w.rows = st.rows;
    w.top1 = st.top1; w.top1Pos = st.top1Pos; w.top2 = st.top2;
    w.hist = st.hist; w.firstRow = st.firstRow;
    w.capacity = st.firstRow.length;
    return w;
  }

  /** Room for `capacity` tail slots (a restored tracker grows on its sequence's next append). */
  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const hist = new Float32Array(capacity * this.units * this.window);
    hist.set(this.hist);
    const firstRow = new Float64Array(capacity);
    firstRow.set(this.firstRow);
    this.hist = hist;
    this.firstRow = firstRow;
    this.capacity = capacity;
  }

  /** A token entered tail slot `slot`. */
  arrive(slot: number): void {
    this.firstRow[slot] = this.rows;
    this.hist.fill(0, slot * this.units * this.window, (slot + 1) * this.units * this.window);
  }

  /** The oldest `k` tail tokens left the tail (sealed); later slots move down by k. */
  shift(k: number, tailCount: number): void {
    const per = this.units * this.window;
    this.hist.copyWithin(0, k * per, tailCount * per);
    this.firstRow.copyWithin(0, k, tailCount);
  }

  /**
   * Records one query: `weights[u * stride + s]` = weight of tail slot s (< tailCount) for unit
   * u, `outsideTop[u]` = largest weight of any token outside the tail (-Infinity if none), and
   * `tailBase` = absolute position of slot 0. `row`: the row reserved at the attend's call
   * (default: a new row now). Rows may land out of order; a row W or more behind one already
   * written is out of the window and dropped, as sequential execution would have overwritten it.
   */
  record(weights: Float64Array, stride: number, tailCount: number, outsideTop: Float64Array, tailBase: number, row = this.reserve()): void {
    const W = this.window, r = row % W;
    if (row < this.ringRow[r]!) return;
    this.ringRow[r] = row;
    for (let u = 0; u < this.units; u++) {
      let best = outsideTop[u]!, bestSlot = -1;
      for (let s = 0; s < tailCount; s++) {
        const w = weights[u * stride + s]!;
        this.hist[(s * this.units + u) * W + r] = w;
        if (w > best) { best = w; bestSlot = s; }
      }
      let second = outsideTop[u]!;
      if (bestSlot >= 0) {
        for (let s = 0; s < tailCount; s++) {
          if (s !== bestSlot && weights[u * stride + s]! > second) second = weights[u * stride + s]!;
        }
      }
      this.top1[u * W + r] = best;
      this.top1Pos[u * W + r] = bestSlot >= 0 ? tailBase + bestSlot : -1;
      this.top2[u * W + r] = bestSlot >= 0 ? second : best;
    }
  }

  /** Rows that saw the token in `slot`, capped at the window; `rows`: the row count to look from (a deferred seal's). */
  seen(slot: number, rows = this.rows): number {
    return Math.min(this.window, rows - this.firstRow[slot]!);
  }

  /**
   * Predicted weight a_i of the token in `slot` (absolute position `pos`) for unit u and the
   * largest predicted weight of any other token, over the last `seen(slot)` rows.
   */
  predict(slot: number, u: number, pos: number, rows = this.rows): { a: number; other: number } {
    const W = this.window, n = this.seen(slot, rows);
    let a = 0, other = 0;
    for (let i = 0; i < n; i++) {
      const r = (rows - 1 - i) % W;
      const w = this.hist[(slot * this.units + u) * W + r]!;
      if (w > a) a = w;
      const o = this.top1Pos[u * W + r] === pos ? this.top2[u * W + r]! : this.top1[u * W + r]!;
      if (o > other) other = o;
    }
    return { a, other };
  }
}
