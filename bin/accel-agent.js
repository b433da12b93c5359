#!/usr/bin/env node
// NVML calls and file I/O share libuv's pool; NVML event waits hold a thread
// for up to a second, so the pool gets a little room before first use.
process.env.UV_THREADPOOL_SIZE ??= '8';
const { main } = await import('../dist/agent/cli/accel-agent.js');
process.exitCode = await main(process.argv.slice(2));
