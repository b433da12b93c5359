/*
 * accel-runtime's native front end. Node takes tens of milliseconds just to
 * start, as long as runc itself takes to run a container, so this small
 * program handles the common cases alone and execs runc with no Node at all:
 *
 *  - every command but create/run: exec runc with the arguments untouched;
 *  - create/run: inject the requested devices from the cache the Node
 *    wrapper keeps (see cache.h), then exec runc.
 *
 * Anything it is not certain about (no fresh cache, an unknown device, an
 * unusual config.json) goes to the Node wrapper, which has the full logic
 * and the error messages, with the same arguments.
 *
 * Environment: ACCEL_RUNTIME_LAUNCHER_CACHE (cache directory; empty turns
 * the fast path off), ACCEL_RUNTIME_NODE_WRAPPER (the wrapper program).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cache.h"
#include "inject.h"

#ifndef ACCEL_RUNTIME_DEFAULT_CACHE
#define ACCEL_RUNTIME_DEFAULT_CACHE "/run/accel-agent/runtime-edits"
#endif
#ifndef ACCEL_RUNTIME_DEFAULT_WRAPPER
#define ACCEL_RUNTIME_DEFAULT_WRAPPER "/usr/libexec/accel-agent/accel-runtime-node"
#endif

/* A line in runc's own log format (logrus text or JSON); `msg` is plain ASCII from this program. */
static void log_line(FILE *f, bool json, const char *level, const char *msg) {
  char when[32];
  time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  fputs(json ? "{\"level\":\"" : "time=\"", f);
  if (json) {
    fprintf(f, "%s\",\"msg\":\"", level);
  } else {
    fprintf(f, "%s\" level=%s msg=\"", when, level);
  }
  for (const char *p = msg; *p; p++) {
    if (*p == '"' || *p == '\\') fputc('\\', f);
    fputc((unsigned char)*p < 0x20 ? ' ' : *p, f);
  }
  if (json) fprintf(f, "\",\"time\":\"%s\"}\n", when);
  else fputs("\"\n", f);
}

static void to_runc_log(const struct runc_args *a, const char *level, const char *msg) {
  if (a->log == NULL) return;
  FILE *f = fopen(a->log, "ae");
  if (f == NULL) return;
  log_line(f, a->log_json, level, msg);
  fclose(f);
}

static int fail(const struct runc_args *a, const char *msg) {
  log_line(stderr, a->log_json, "error", msg);
  to_runc_log(a, "error", msg);
  return 1;
}

static int delegate(const struct runc_args *a, char **argv) {
  const char *wrapper = getenv("ACCEL_RUNTIME_NODE_WRAPPER");
  if (wrapper == NULL || wrapper[0] == '\0') wrapper = ACCEL_RUNTIME_DEFAULT_WRAPPER;
  char self[PATH_MAX];
  if (realpath("/proc/self/exe", self) != NULL) setenv("ACCEL_RUNTIME_LAUNCHER", self, 1);
  argv[0] = (char *)wrapper;
  execv(wrapper, argv);
  char msg[PATH_MAX + 128];
  snprintf(msg, sizeof msg, "accel-runtime: cannot start the Node wrapper %s: %s", wrapper, strerror(errno));
  return fail(a, msg);
}

int main(int argc, char **argv) {
  struct runc_args a;
  runc_args_parse(argc, argv, &a);
  if (getenv("ACCEL_RUNTIME_ACTIVE") != NULL) {
    return fail(&a, "accel-runtime: accel-runtime was started by itself: its runc setting points back at the wrapper");
  }
  const char *dir = getenv("ACCEL_RUNTIME_LAUNCHER_CACHE");
  if (dir == NULL) dir = ACCEL_RUNTIME_DEFAULT_CACHE;
  struct cache cache;
  if (dir[0] == '\0' || cache_load(dir, &cache) != 0) return delegate(&a, argv);

  if (runc_args_edit_bundle(&a)) {
    char injected[1024];
    switch (inject_bundle(&a, &cache, injected, sizeof injected)) {
      case INJECT_DELEGATE:
        return delegate(&a, argv);
      case INJECT_DONE: {
        char msg[1100];
        snprintf(msg, sizeof msg, "accel-runtime: injected %s", injected);
        to_runc_log(&a, "info", msg);
        break;
      }
      case INJECT_NOTHING:
        break;
    }
  }
  setenv("ACCEL_RUNTIME_ACTIVE", "1", 1);
  argv[0] = (char *)cache.runc;
  execv(cache.runc, argv);
  char msg[PATH_MAX + 64];
  snprintf(msg, sizeof msg, "accel-runtime: cannot start %s: %s", cache.runc, strerror(errno));
  return fail(&a, msg);
}
