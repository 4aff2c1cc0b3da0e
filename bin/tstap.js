#!/usr/bin/env node
// The CLI is one esbuild bundle (dist/tstap.mjs): loading one file instead of dozens of ES
// modules is what keeps `tstap` within a few milliseconds of Node's own start.
import '../dist/tstap.mjs';
