/**
 * Logit comparison metrics shared by the conformance tests: max-abs and relative error, KL
 * divergence of the next-token distributions, top-1 agreement. (Top-1 can only flip where the
 * reference's top-two margin is at most twice that row's max-abs error, so with a bounded max-abs
 * error a disagreement is confined to near ties; `nearTies` counts those positions.)
 * @module
 */

/** Metrics over a set of positions. */
export interface LogitStats {
  positions: number;
  /** max over positions and tokens of |got − ref|. */
  maxAbs: number;
  /** max over positions of max|got − ref| / max|ref|. */
  maxRel: number;
  /** KL(p_ref ‖ p_got) in nats: mean and max over positions. */
  klMean: number;
  klMax: number;
  /** Fraction of positions whose argmax agrees. */
  top1: number;
  /** Positions whose reference top-two margin is below 2·(that row's max-abs error). */
  nearTies: number;
}

function logSoftmax(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
  return out;
}

function top2(x: ArrayLike<number>): [number, number] {
  let a = 0;
  let b = -1;
  for (let i = 1; i < x.length; i++) {
    if (x[i] > x[a]) {
      b = a;
      a = i;
    } else if (b < 0 || x[i] > x[b]) b = i;
  }
  return [a, b];
}

/**
 * Compares engine logit rows with reference rows position by position.
 *
 * @param got Engine rows.
 * @param ref Reference rows (same count and width).
 * @returns The metrics.
 */
export function compareLogits(got: ArrayLike<number>[], ref: ArrayLike<number>[]): LogitStats {
  if (got.length !== ref.length) throw new Error(`${got.length} rows vs ${ref.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let klSum = 0;
  let klMax = 0;
  let agree = 0;
  let nearTies = 0;
  for (let t = 0; t < got.length; t++) {
    const g = got[t];
    const r = ref[t];
    let rowAbs = 0;
    let refMax = 0;
    for (let i = 0; i < r.length; i++) {
      rowAbs = Math.max(rowAbs, Math.abs(g[i] - r[i]));
      refMax = Math.max(refMax, Math.abs(r[i]));
    }
    maxAbs = Math.max(maxAbs, rowAbs);
    maxRel = Math.max(maxRel, rowAbs / refMax);
    const lp = logSoftmax(r);
    const lq = logSoftmax(g);
    let kl = 0;
    for (let i = 0; i < r.length; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
    klSum += kl;
    klMax = Math.max(klMax, kl);
    const [best, second] = top2(r);
    const [gotBest] = top2(g);
    if (gotBest === best) agree++;
    if (r[best] - r[second] <= 2 * rowAbs) nearTies++;
  }
  return {
    positions: got.length,
    maxAbs,
    maxRel,
    klMean: klSum / got.length,
    klMax,
    top1: agree / got.length,
    nearTies,
  };
}

/** One line for the test log. */
export function formatStats(label: string, s: LogitStats): string {
  return `${label}: positions ${s.positions}, max-abs ${s.maxAbs.toExponential(2)}, ` +
    `max-rel ${s.maxRel.toExponential(2)}, KL mean ${s.klMean.toExponential(2)} ` +
    `max ${s.klMax.toExponential(2)}, top-1 ${
      (100 * s.top1).toFixed(1)
    }% (near ties ${s.nearTies})`;
}
