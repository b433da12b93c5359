/*
 * Injects cached device edits into a bundle's config.json, byte-splicing
 * pre-rendered JSON into the original text. It only acts when the result is
 * certain to be what the Node wrapper would write; whenever something is
 * unusual (an unknown device, a path already taken, an escaped string, a
 * stale host path) it changes nothing and asks for the wrapper instead.
 */
#ifndef ACCEL_LAUNCHER_INJECT_H
#define ACCEL_LAUNCHER_INJECT_H

#include "args.h"
#include "cache.h"

enum inject_result {
  INJECT_NOTHING,  /* the container asked for nothing: run runc as is */
  INJECT_DONE,     /* config.json was rewritten */
  INJECT_DELEGATE, /* hand the whole invocation to the Node wrapper */
};

/* `injected` receives the requested names, comma-separated, for the log. */
enum inject_result inject_bundle(const struct runc_args *args, const struct cache *cache, char *injected, size_t injected_len);

#endif
