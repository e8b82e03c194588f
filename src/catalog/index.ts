/** The catalogue room: what models exist. The router imports from here. */

export { assertValid, buildCatalog, loadCatalog, type Catalog, type CatalogOptions } from './catalog.js';
export { diffCatalogs, type CatalogDiff } from './diff.js';
export { discoverModelsDir, type DiscoveredModel, type Discovery } from './discover.js';
export { CatalogError, type HttpRoute, type ModelSpec } from './model-spec.js';
export { parsePresetFile, readPreset, type PresetSection, type PresetSource } from './preset-files.js';
export { validateCatalog, type CatalogSources, type ModelResult } from './validate.js';
export { LLAMA_FLAGS, lookupFlag, type LlamaFlag } from './llama-flags.js';
export { routerSettingsOf, type PresetRouterSettings } from './router-settings.js';
