/** Blob encoding for the wire: standard base64, exact for every length, fast for photos. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64ToBytes, bytesToBase64 } from "../../functions/db/values.js";

describe("base64 for blobs", () => {
  it("matches Node's base64 and round-trips, for every length and byte", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b64 = bytesToBase64(bytes);
        expect(b64).toBe(Buffer.from(bytes).toString("base64"));
        expect(base64ToBytes(b64)).toEqual(bytes);
      }),
      { seed: 4242, numRuns: 500 },
    );
  });

  it("round-trips an 8 MiB photo", () => {
    const photo = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
    const b64 = bytesToBase64(photo);
    expect(b64 === Buffer.from(photo).toString("base64")).toBe(true);
    expect(Buffer.from(base64ToBytes(b64)).equals(photo)).toBe(true);
  });

  it("refuses characters outside the alphabet", () => {
    expect(() => base64ToBytes("ab$d")).toThrow(/invalid base64 character at 2/);
  });
});
