/** The GGUF room: header reading for everyone, writing and the tiny model maker for tests and demos. */
export { readGgufHeader, type GgufHeader, type GgufTensorInfo } from './reader.js';
export { summarizeGguf, layerWeightBytes, type GgufSummary } from './summary.js';
export { GgufError } from './errors.js';
export { GGML_TYPES, GgmlType, GgufValueType, ggmlTypeInfo, ggmlTypeName, rowBytes, tensorBytes, type GgmlTypeInfo } from './types.js';
export { writeGguf, encodeGgufHeader, type GgufTensorSource, type GgufWriteSpec, type GgufLayout } from './writer.js';
export { gv, type GgufValue } from './values.js';
export { makeTinyModel, TINY_MODEL_FORMAT, type TinyModelOptions, type TinyModelInfo } from './tiny-model.js';
