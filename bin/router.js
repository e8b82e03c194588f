#!/usr/bin/env node
// The `router` command; built from src/cli/main.ts by `npm run build`.
import '../dist/src/cli/main.js';
