#!/usr/bin/env node
const { main } = await import('../dist/agent/collector/main.js');
process.exitCode = await main(process.argv.slice(2));
