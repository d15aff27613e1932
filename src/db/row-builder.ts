/**
 * A row's values (as both drivers can read them, an array per row) → an object with these keys, built
 * by one object literal (`{ "id": values[0], … }`), so every row of a query gets one shape at the cost
 * of a literal: drivers building objects one property at a time cost twice the whole read. Duplicate
 * keys: the last column wins, as in the drivers' own objects. The keys are column names, quoted as
 * JSON strings; `__proto__` would set the prototype in a literal, so a query with such a column gets
 * a plain loop.
 */
export function rowBuilder(keys: string[]): (values: unknown[]) => Record<string, unknown> {
  if (keys.includes('__proto__')) {
    return (values) => {
      const object: Record<string, unknown> = {};
      for (let c = 0; c < keys.length; c++) {
        Object.defineProperty(object, keys[c] as string, {
          value: values[c],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    };
  }
  const fields = keys.map((key, c) => `${JSON.stringify(key)}: values[${c}]`).join(', ');
  return new Function('values', `return { ${fields} };`) as (values: unknown[]) => Record<string, unknown>;
}
