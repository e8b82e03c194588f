#!/usr/bin/env node
// The `router-engine` command: one GGUF model over OpenAI-compatible HTTP; built from src/engine/main.ts by `npm run build`.
import '../dist/src/engine/main.js';
