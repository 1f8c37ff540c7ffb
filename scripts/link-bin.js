#!/usr/bin/env node
// Makes `npx weft` work from the repository root: npm links the bins of dependencies into
// node_modules/.bin but not the root package's own, so link it here after each build.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const target = path.join(root, 'dist', 'src', 'cli', 'main.js');
const binDir = path.join(root, 'node_modules', '.bin');
const link = path.join(binDir, 'weft');
fs.chmodSync(target, 0o755);
fs.mkdirSync(binDir, { recursive: true });
fs.rmSync(link, { force: true });
fs.symlinkSync(path.relative(binDir, target), link);
