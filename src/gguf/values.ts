/**
 * Typed metadata values for the writer. GGUF stores a type with every value and JS numbers do not say whether they
 * mean u32 or f32, so values are built with these helpers: `gv.u32(2048)`, `gv.str('llama')`, `gv.strs(tokens)`.
 */
import { GgufValueType as T } from './types.js';

type Numeric = typeof T.UINT8 | typeof T.INT8 | typeof T.UINT16 | typeof T.INT16 | typeof T.UINT32 | typeof T.INT32 | typeof T.FLOAT32 | typeof T.FLOAT64;
type Wide = typeof T.UINT64 | typeof T.INT64;
export type GgufScalarType = Numeric | Wide | typeof T.BOOL | typeof T.STRING;

export type GgufValue =
  | { type: Numeric; value: number }
  | { type: Wide; value: number | bigint }
  | { type: typeof T.BOOL; value: boolean }
  | { type: typeof T.STRING; value: string }
  | { type: typeof T.ARRAY; itemType: GgufScalarType; value: readonly (number | bigint | boolean | string)[] };

const num =
  <K extends Numeric>(type: K) =>
  (value: number) => ({ type, value }) as GgufValue;
const arr =
  <V extends number | bigint | boolean | string>(itemType: GgufScalarType) =>
  (value: readonly V[]): GgufValue => ({ type: T.ARRAY, itemType, value });

export const gv = {
  u8: num(T.UINT8),
  i8: num(T.INT8),
  u16: num(T.UINT16),
  i16: num(T.INT16),
  u32: num(T.UINT32),
  i32: num(T.INT32),
  f32: num(T.FLOAT32),
  f64: num(T.FLOAT64),
  u64: (value: number | bigint): GgufValue => ({ type: T.UINT64, value }),
  i64: (value: number | bigint): GgufValue => ({ type: T.INT64, value }),
  bool: (value: boolean): GgufValue => ({ type: T.BOOL, value }),
  str: (value: string): GgufValue => ({ type: T.STRING, value }),
  /** Arrays: one item type for all items, as GGUF requires. */
  array: (itemType: GgufScalarType, value: readonly (number | bigint | boolean | string)[]): GgufValue => ({ type: T.ARRAY, itemType, value }),
  strs: arr<string>(T.STRING),
  i32s: arr<number>(T.INT32),
  u32s: arr<number>(T.UINT32),
  f32s: arr<number>(T.FLOAT32),
  u8s: arr<number>(T.UINT8),
  bools: arr<boolean>(T.BOOL),
};
