/**
 * The numbers of the GGUF format: value types of metadata, ggml tensor types and their block sizes.
 * Block sizes were read from the llama.cpp bundled with node-llama-cpp 3.22.1 (ggml_blck_size / ggml_type_size),
 * so byte counts computed here agree with what llama.cpp maps.
 */

/** GGUF magic "GGUF" as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Byte size of each fixed-size metadata value type (strings and arrays are variable). */
export const GGUF_SCALAR_BYTES: Readonly<Record<number, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** ggml tensor types (ggml_type). Numbers 4, 5, 31-33 and 36-38 are retired and absent on purpose. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;
export type GgmlTypeName = keyof typeof GgmlType;

export interface GgmlTypeInfo {
  name: GgmlTypeName;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const BLOCKS: Record<GgmlTypeName, [blockSize: number, typeSize: number]> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  Q8_K: [256, 292],
  IQ2_XXS: [256, 66],
  IQ2_XS: [256, 74],
  IQ3_XXS: [256, 98],
  IQ1_S: [256, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [256, 110],
  IQ2_S: [256, 82],
  IQ4_XS: [256, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [256, 56],
  BF16: [1, 2],
  TQ1_0: [256, 54],
  TQ2_0: [256, 66],
  MXFP4: [32, 17],
  NVFP4: [64, 36],
  Q1_0: [128, 18],
  Q2_0: [64, 18],
};

/** Type number -> block geometry, for every type this module knows. */
export const GGML_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map(
  (Object.keys(BLOCKS) as GgmlTypeName[]).map((name) => [
    GgmlType[name],
    { name, blockSize: BLOCKS[name][0], typeSize: BLOCKS[name][1] },
  ]),
);

export function ggmlTypeInfo(type: number): GgmlTypeInfo | undefined {
  return GGML_TYPES.get(type);
}

/** "Q4_K" for 12; "type 99" for a number this module does not know. */
export function ggmlTypeName(type: number): string {
  return GGML_TYPES.get(type)?.name ?? `type ${type}`;
}

/**
 * Bytes of one row (dims[0] elements) of a tensor of this type, or undefined when the type is unknown or the row
 * length is not a whole number of blocks (such a tensor cannot exist in a valid file).
 */
export function rowBytes(rowLength: number, type: number): number | undefined {
  const info = GGML_TYPES.get(type);
  if (!info || rowLength % info.blockSize !== 0) return undefined;
  return (rowLength / info.blockSize) * info.typeSize;
}

/** Bytes of a whole tensor (dims inner-first, as GGUF stores them); undefined as for rowBytes. */
export function tensorBytes(dims: readonly number[], type: number): number | undefined {
  const row = rowBytes(dims[0] ?? 1, type);
  if (row === undefined) return undefined;
  let rows = 1;
  for (let i = 1; i < dims.length; i++) rows *= dims[i]!;
  return row * rows;
}

/** Round n up to a multiple of align. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
