import { describe, expect, it } from "vitest";
import { formatMs, formatNumber, formatRatio, latency, median, percentile, ratio, table } from "../../bench/stats.js";

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("picks the smallest sample with at least p % at or below it", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 90)).toBe(90);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
  });

  it("does not depend on the order of the samples", () => {
    const shuffled = [...hundred].reverse();
    expect(percentile(shuffled, 90)).toBe(90);
    expect(shuffled[0]).toBe(100); // the input is not sorted in place
  });

  it("is the largest sample for p99 of 50 and the middle for an odd count", () => {
    const fifty = Array.from({ length: 50 }, (_, i) => i);
    expect(percentile(fifty, 99)).toBe(49);
    expect(median([3, 1, 2])).toBe(2);
    expect(percentile([7], 99)).toBe(7);
  });

  it("is NaN with no samples and refuses p outside 0..100", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("summarises a latency series", () => {
    const l = latency([10, 20, 30, 40, 1000]);
    expect(l).toMatchObject({ n: 5, p50: 30, p90: 1000, p99: 1000, min: 10, max: 1000, mean: 220 });
    expect(latency([]).n).toBe(0);
  });
});

describe("ratios and formatting", () => {
  it("divides measured by anchor, NaN when the anchor is missing or zero", () => {
    expect(ratio(30, 10)).toBe(3);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
  });

  it("formats ratios with sensible precision", () => {
    expect(formatRatio(1234.4)).toBe("1,234×");
    expect(formatRatio(12.34)).toBe("12.3×");
    expect(formatRatio(1.234)).toBe("1.23×");
    expect(formatRatio(0.1)).toBe("0.10×");
    expect(formatRatio(0.0123)).toBe("0.012×");
    expect(formatRatio(Number.NaN)).toBe("n/a");
  });

  it("formats milliseconds and numbers for people", () => {
    expect(formatMs(0.333)).toBe("0.33 ms");
    expect(formatMs(41.06)).toBe("41.1 ms");
    expect(formatMs(132.4)).toBe("132 ms");
    expect(formatMs(8520)).toBe("8.52 s");
    expect(formatMs(12_345)).toBe("12.3 s");
    expect(formatNumber(135128.4)).toBe("135,128");
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe("n/a");
  });

  it("lays out a table with a rule under the header", () => {
    expect(table([["id", "figure"], ["B2", "41 ms"], ["B10", "5 ms"]])).toBe("id   figure\n---  ------\nB2   41 ms\nB10  5 ms");
  });
});
