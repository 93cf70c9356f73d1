/**
 * Records keyed by data — metadata keys, extra specs, image properties, filters, names from a
 * request or a row. An ordinary object is the wrong container for them: `o[k] = v` with
 * k = '__proto__' replaces the prototype instead of storing a key (the key is silently lost),
 * and `o[k]` with k = 'constructor' finds Object's own function. So: build such records from
 * entries (Object.fromEntries defines own properties, `__proto__` included), and read them with
 * `ownValue`, never `o[k]` or `k in o`.
 */

/** `obj[key]` when `key` is obj's own property, else undefined (never an inherited member). */
export function ownValue<T>(obj: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A copy of `obj` with `key` set: as `{ ...obj, [key]: value }`, which defines rather than assigns. */
export function withEntry<T>(obj: Readonly<Record<string, T>>, key: string, value: T): Record<string, T> {
  return Object.fromEntries([...Object.entries(obj).filter(([k]) => k !== key), [key, value]]);
}
