/** Appends to the list under a key (a map of lists), in place: O(1), unlike re-spreading the list. */
export function addTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
