/** Superadmin password hashing: PBKDF2-SHA-256 via WebCrypto (the same in workerd and Node). */
import { fromHex, toHex } from "../functions/util/hex.js";

const ITERATIONS = 210_000;

async function derive(password: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<ArrayBuffer> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  return crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
}

/** "pbkdf2-sha256$iterations$salt$hash", so the cost can rise later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2-sha256$${ITERATIONS}$${toHex(salt)}$${toHex(await derive(password, salt, ITERATIONS))}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iter, saltHex, hashHex] = stored.split("$");
  if (scheme !== "pbkdf2-sha256" || !iter || !saltHex || !hashHex) return false;
  const salt = fromHex(saltHex);
  const actual = toHex(await derive(password, salt, Number(iter)));
  let diff = actual.length ^ hashHex.length;
  for (let i = 0; i < Math.min(actual.length, hashHex.length); i++) diff |= actual.charCodeAt(i) ^ hashHex.charCodeAt(i);
  return diff === 0;
}
