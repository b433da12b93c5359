/*
 * The pre-merged edits the Node wrapper writes for this launcher (format in
 * agent/runtime/launcher-cache-format.ts). A cache is used only when it is
 * private to this user and everything it was derived from (settings
 * variables, settings file, CDI spec directories and files) is unchanged.
 */
#ifndef ACCEL_LAUNCHER_CACHE_H
#define ACCEL_LAUNCHER_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#define CACHE_FILE_NAME "launcher.cache"

struct cache_node {
  const char *path;
  const char *host;
  char type;
  const char *major; /* decimal text, as in the JSON */
  const char *minor;
  const char *device_json;
  const char *rule_json;
};

struct cache_mount {
  const char *dest;
  const char *host;
  const char *dest_json;
  const char *options_json;
};

struct cache_env {
  const char *key;
  const char *entry_json;
};

struct cache_device {
  const char *name;
  struct cache_node *nodes;
  int n_nodes;
  struct cache_mount *mounts;
  int n_mounts;
  struct cache_env *envs;
  int n_envs;
};

struct cache {
  char *buf;
  const char *runc;
  bool env_selection;
  struct cache_device *devices;
  int n_devices;
};

/* 0 when the cache in `dir` is present, private, well formed and fresh. */
int cache_load(const char *dir, struct cache *c);
const struct cache_device *cache_find(const struct cache *c, const char *name, size_t name_len);

#endif
