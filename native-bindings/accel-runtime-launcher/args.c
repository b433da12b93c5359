#include "args.h"

#include <stddef.h>
#include <string.h>

static const char *const GLOBAL_VALUE_FLAGS[] = {"log", "log-format", "root", "criu", "rootless", NULL};
static const char *const COMMAND_VALUE_FLAGS[] = {"bundle", "b", "console-socket", "pid-file", "preserve-fds", NULL};
static const char *const HELP_FLAGS[] = {"help", "h", "version", "v", NULL};

/* A flag's name (without dashes) and its `=value` if any; false when `word` is not a flag. */
struct flag {
  const char *name;
  size_t name_len;
  const char *value;
};

static bool as_flag(const char *word, struct flag *f) {
  if (word[0] != '-' || word[1] == '\0' || strcmp(word, "--") == 0) return false;
  const char *body = word[1] == '-' ? word + 2 : word + 1;
  if (body[0] == '\0' || body[0] == '-') return false;
  const char *eq = strchr(body, '=');
  f->name = body;
  f->name_len = eq ? (size_t)(eq - body) : strlen(body);
  f->value = eq ? eq + 1 : NULL;
  return true;
}

static bool named(const struct flag *f, const char *const *names) {
  for (; *names; names++) {
    if (strlen(*names) == f->name_len && strncmp(f->name, *names, f->name_len) == 0) return true;
  }
  return false;
}

static bool is(const struct flag *f, const char *name) {
  return strlen(name) == f->name_len && strncmp(f->name, name, f->name_len) == 0;
}

void runc_args_parse(int argc, char **argv, struct runc_args *out) {
  memset(out, 0, sizeof *out);
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    struct flag f;
    if (!as_flag(argv[i], &f)) break;
    if (named(&f, HELP_FLAGS)) out->help = true;
    if (!named(&f, GLOBAL_VALUE_FLAGS)) continue;
    const char *value = f.value;
    if (value == NULL) {
      if (i + 1 >= argc) {
        out->problem = true;
        return;
      }
      value = argv[++i];
    }
    if (is(&f, "log")) out->log = value;
    else if (is(&f, "log-format")) out->log_json = strcmp(value, "json") == 0;
  }
  if (i >= argc) return;
  out->command = argv[i];
  for (i++; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) break;
    struct flag f;
    if (!as_flag(argv[i], &f)) continue;
    if (named(&f, HELP_FLAGS)) out->help = true;
    if (!named(&f, COMMAND_VALUE_FLAGS)) continue;
    const char *value = f.value;
    if (value == NULL) {
      if (i + 1 >= argc) {
        out->problem = true;
        return;
      }
      value = argv[++i];
    }
    if (is(&f, "bundle") || is(&f, "b")) out->bundle = value;
  }
}

bool runc_args_edit_bundle(const struct runc_args *a) {
  return a->command != NULL && (strcmp(a->command, "create") == 0 || strcmp(a->command, "run") == 0) && !a->help &&
         !a->problem;
}
