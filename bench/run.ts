/**
 * `npm run bench`: every benchmark, each reporting ratios against a baseline measured in the
 * same run.
 */
import { resolve } from 'node:path';
import { benchPass1 } from './pass1.js';
import { benchPass2 } from './pass2.js';
import { benchRuntime } from './runtime.js';
import { benchLive } from './live.js';

const repo = resolve(import.meta.dirname, '../..');
const shared = resolve(repo, '../shared');
benchPass1(repo, shared);
benchPass2(repo);
benchRuntime(repo);
benchLive(repo);
