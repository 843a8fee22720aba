/**
 * The env-runner RPC's wire format: a message is one JSON frame for its structure and one raw frame per
 * typed array in it (fragments, weights), so arrays travel as their bytes, never as JSON numbers. A typed
 * array in the JSON is `{"$frame": i, "$type": "Float32Array"}`; a non-finite number, which JSON cannot
 * hold, is `{"$number": "NaN"}`.
 */

const ARRAY_TYPES = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
} as const;
type ArrayTypeName = keyof typeof ARRAY_TYPES;

function isArrayTypeName(name: string): name is ArrayTypeName {
  return Object.hasOwn(ARRAY_TYPES, name);
}

/** `value` as frames: its JSON, then each typed array's bytes (not copied). */
export function encodeMessage(value: unknown): Buffer[] {
  const frames: Buffer[] = [];
  const json = JSON.stringify(value, (_key, item: unknown) => {
    if (ArrayBuffer.isView(item)) {
      const type = item.constructor.name;
      if (!isArrayTypeName(type)) throw new TypeError(`env-runner wire: cannot send a ${type}`);
      frames.push(Buffer.from(item.buffer, item.byteOffset, item.byteLength));
      return { $frame: frames.length - 1, $type: type };
    }
    if (typeof item === "number" && !Number.isFinite(item)) return { $number: String(item) };
    return item;
  });
  return [Buffer.from(json ?? "null"), ...frames];
}

/** The value `encodeMessage` made of `frames`; each array gets memory of its own, aligned for its type. */
export function decodeMessage(frames: Buffer[]): unknown {
  const [json, ...arrays] = frames;
  if (json === undefined) throw new Error("env-runner wire: an empty message");
  return JSON.parse(json.toString(), (_key, item: unknown) => {
    if (item === null || typeof item !== "object") return item;
    const record = item as Record<string, unknown>;
    if (typeof record.$number === "string") return Number(record.$number);
    if (typeof record.$frame !== "number" || typeof record.$type !== "string") return item;
    const bytes = arrays[record.$frame];
    if (bytes === undefined || !isArrayTypeName(record.$type)) {
      throw new Error(`env-runner wire: frame ${record.$frame} (${record.$type}) is not in the message`);
    }
    const Type = ARRAY_TYPES[record.$type];
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Type(copy.buffer, 0, bytes.byteLength / Type.BYTES_PER_ELEMENT);
  });
}
