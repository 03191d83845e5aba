/** One cumulative histogram bucket: observations at most `le` (Prometheus's `_bucket{le}`). */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * The `q`-quantile (0..1) of the observations counted in `buckets`
 * (cumulative, sorted by `le`, the last `+Inf`), the way Prometheus's
 * `histogram_quantile` reckons it: the bucket holding rank `q · total` is
 * found and the value interpolated linearly inside it, from the bucket
 * below's bound (0 for the first); a rank in the `+Inf` bucket answers the
 * highest finite bound. Null when the buckets count nothing.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket <= 0 ? b.le : lowerBound + (b.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}
