/* Reads runc's command line the way agent/runtime/runtime-args.ts does. */
#ifndef ACCEL_LAUNCHER_ARGS_H
#define ACCEL_LAUNCHER_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct runc_args {
  const char *command; /* NULL when there is none */
  const char *bundle;  /* NULL for the working directory */
  const char *log;     /* runc's --log file, or NULL */
  bool log_json;       /* --log-format json */
  bool help;           /* --help / --version anywhere */
  bool problem;        /* a value flag without its value: runc will complain itself */
};

void runc_args_parse(int argc, char **argv, struct runc_args *out);

/* True for create/run that can be understood: their config.json is to be edited. */
bool runc_args_edit_bundle(const struct runc_args *a);

#endif
