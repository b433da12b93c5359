#define _GNU_SOURCE
#include "stub_conf_locate.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stub_state_path(const void *symbol, const char *env_name, const char *file_name, char *out, size_t out_len) {
  const char *env = getenv(env_name);
  if (env != NULL && env[0] != '\0') {
    if (strlen(env) >= out_len) return -1;
    strcpy(out, env);
    return 0;
  }
  Dl_info info;
  if (dladdr(symbol, &info) == 0 || info.dli_fname == NULL) return -1;
  const char *slash = strrchr(info.dli_fname, '/');
  /* A bare name means the object was found without a directory (the main program). */
  size_t dir_len = slash == NULL ? 1 : (size_t)(slash - info.dli_fname);
  const char *dir = slash == NULL ? "." : info.dli_fname;
  if (dir_len == 0) {
    dir = "/";
    dir_len = 1;
  }
  int n = snprintf(out, out_len, "%.*s/%s", (int)dir_len, dir, file_name);
  return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

size_t stub_line_strip(char *line) {
  size_t n = strcspn(line, "\r\n");
  for (size_t i = 0; i < n; i++) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      n = i;
      break;
    }
  }
  while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
  line[n] = '\0';
  return n;
}

int stub_conf_value(const char *path, const char *key, char *value, size_t value_len) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  char line[1024];
  size_t key_len = strlen(key);
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    stub_line_strip(line);
    if (strncmp(line, key, key_len) != 0 || line[key_len] != ' ') continue;
    const char *rest = line + key_len + 1;
    size_t n = strlen(rest);
    if (n >= value_len) continue;
    memcpy(value, rest, n);
    value[n] = '\0';
    found = 1;
  }
  fclose(f);
  return found;
}
