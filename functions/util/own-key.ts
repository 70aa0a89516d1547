/**
 * Records keyed by column names. A column may be called `__proto__`: a plain assignment under
 * that name sets the object's prototype instead of a property, and the column silently drops
 * out of the record (and of everything merged, stored and sent from it). Writes go through
 * `setOwn`; reads of a name that may be absent go through `Object.hasOwn`, since every object
 * inherits `constructor`, `valueOf`, `__proto__` and the rest.
 */
export function setOwn<T>(rec: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") Object.defineProperty(rec, key, { value, writable: true, enumerable: true, configurable: true });
  else rec[key] = value;
}
