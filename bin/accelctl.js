#!/usr/bin/env node
const { main } = await import('../dist/agent/cli/accelctl.js');
const { processIO } = await import('../dist/agent/cli/io.js');
process.exitCode = await main(process.argv.slice(2), processIO);
