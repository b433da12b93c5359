#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

#define MAX_CONFIG_BYTES (16 * 1024 * 1024)
#define MAX_REQUESTS 256
#define ANNOTATION_PREFIX "cdi.k8s.io/"

/* ------------------------------------------------------------ text buffer */

struct buf {
  char *data;
  size_t len;
  size_t cap;
  bool failed;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap == 0 ? 1024 : b->cap;
    while (b->len + n + 1 > cap) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
      b->failed = true;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* ------------------------------------------------------------ names */

static bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* first char class, middle extra chars, last must be alnum; mirrors device-request.ts */
static bool name_part(const char *s, size_t n, bool letter_first, const char *middle, size_t max) {
  if (n == 0 || n > max) return false;
  if (letter_first ? !alpha(s[0]) : !alnum(s[0])) return false;
  if (!alnum(s[n - 1])) return false;
  for (size_t i = 1; i + 1 < n; i++) {
    if (!alnum(s[i]) && strchr(middle, s[i]) == NULL) return false;
  }
  return true;
}

static bool qualified_name(const char *s, size_t n) {
  const char *slash = memchr(s, '/', n);
  const char *eq = memchr(s, '=', n);
  if (slash == NULL || eq == NULL || eq < slash) return false;
  return name_part(s, (size_t)(slash - s), true, "_.-", SIZE_MAX) &&
         name_part(slash + 1, (size_t)(eq - slash - 1), true, "_-", SIZE_MAX) &&
         name_part(eq + 1, n - (size_t)(eq - s) - 1, false, "_.:-", 256);
}

/* ------------------------------------------------------------ paths */

/* The form the wrapper compares in: absolute, no empty, "." or ".." parts, no trailing slash. */
static bool canonical(const char *s, size_t n) {
  if (n == 0 || s[0] != '/') return false;
  if (n == 1) return true;
  if (s[n - 1] == '/') return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '/') continue;
    size_t j = i + 1;
    while (j < n && s[j] != '/') j++;
    size_t part = j - i - 1;
    if (part == 0 || (part == 1 && s[i + 1] == '.') || (part == 2 && s[i + 1] == '.' && s[i + 2] == '.')) return false;
  }
  return true;
}

static bool json_safe(const char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\') return false;
  }
  return true;
}

static bool within(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (strcmp(dir, "/") == 0) return true;
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* ------------------------------------------------------------ config shape (mirrors validateOciConfig) */

static bool type_is(const struct jdoc *d, int n, enum jtype t) { return n >= 0 && d->nodes[n].type == t; }

/* A member that must have type `t` when present. */
static bool opt_member(const struct jdoc *d, int obj, const char *key, enum jtype t, int *out) {
  int n = json_get(d, obj, key);
  *out = n;
  if (n == -1) return true;
  return type_is(d, n, t);
}

static bool all_children(const struct jdoc *d, int arr, enum jtype t) {
  for (int c = d->nodes[arr].first_child; c >= 0; c = d->nodes[c].next) {
    if (d->nodes[c].type != t) return false;
  }
  return true;
}

static bool uint_id(const struct jdoc *d, int n) {
  if (!type_is(d, n, J_NUMBER)) return false;
  size_t len = d->nodes[n].end - d->nodes[n].start;
  const char *t = d->text + d->nodes[n].start;
  if (len == 0 || len > 10) return false;
  unsigned long long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (t[i] < '0' || t[i] > '9') return false;
    v = v * 10 + (unsigned)(t[i] - '0');
  }
  return v <= 0xfffffffeULL;
}

static bool shape_ok(const struct jdoc *d) {
  int n, m;
  if (!type_is(d, json_get(d, 0, "ociVersion"), J_STRING)) return false;
  if (!opt_member(d, 0, "root", J_OBJECT, &n)) return false;
  if (n >= 0 && !type_is(d, json_get(d, n, "path"), J_STRING)) return false;
  if (!opt_member(d, 0, "process", J_OBJECT, &n)) return false;
  if (n >= 0) {
    int user;
    if (!opt_member(d, n, "env", J_ARRAY, &m) || (m >= 0 && !all_children(d, m, J_STRING))) return false;
    if (!opt_member(d, n, "user", J_OBJECT, &user)) return false;
    if (user >= 0) {
      if (!opt_member(d, user, "additionalGids", J_ARRAY, &m)) return false;
      for (int c = m >= 0 ? d->nodes[m].first_child : -1; c >= 0; c = d->nodes[c].next) {
        if (!uint_id(d, c)) return false;
      }
    }
  }
  if (!opt_member(d, 0, "mounts", J_ARRAY, &n)) return false;
  for (int c = n >= 0 ? d->nodes[n].first_child : -1; c >= 0; c = d->nodes[c].next) {
    if (d->nodes[c].type != J_OBJECT || !type_is(d, json_get(d, c, "destination"), J_STRING)) return false;
    if (!opt_member(d, c, "source", J_STRING, &m) || !opt_member(d, c, "type", J_STRING, &m)) return false;
    if (!opt_member(d, c, "options", J_ARRAY, &m) || (m >= 0 && !all_children(d, m, J_STRING))) return false;
  }
  if (!opt_member(d, 0, "hooks", J_OBJECT, &n)) return false;
  for (int h = n >= 0 ? d->nodes[n].first_child : -1; h >= 0; h = d->nodes[h].next) {
    if (d->nodes[h].type != J_ARRAY) return false;
    for (int c = d->nodes[h].first_child; c >= 0; c = d->nodes[c].next) {
      if (d->nodes[c].type != J_OBJECT || !type_is(d, json_get(d, c, "path"), J_STRING)) return false;
    }
  }
  if (!opt_member(d, 0, "annotations", J_OBJECT, &n) || (n >= 0 && !all_children(d, n, J_STRING))) return false;
  if (!opt_member(d, 0, "linux", J_OBJECT, &n)) return false;
  if (n >= 0) {
    int res;
    if (!opt_member(d, n, "devices", J_ARRAY, &m)) return false;
    for (int c = m >= 0 ? d->nodes[m].first_child : -1; c >= 0; c = d->nodes[c].next) {
      if (d->nodes[c].type != J_OBJECT || !type_is(d, json_get(d, c, "path"), J_STRING) ||
          !type_is(d, json_get(d, c, "type"), J_STRING))
        return false;
    }
    if (!opt_member(d, n, "resources", J_OBJECT, &res)) return false;
    if (res >= 0) {
      if (!opt_member(d, res, "devices", J_ARRAY, &m)) return false;
      for (int c = m >= 0 ? d->nodes[m].first_child : -1; c >= 0; c = d->nodes[c].next) {
        if (d->nodes[c].type != J_OBJECT || !type_is(d, json_get(d, c, "allow"), J_BOOL)) return false;
      }
    }
  }
  return true;
}

/* ------------------------------------------------------------ requests */

struct request {
  const char *name;
  size_t len;
};

/* Annotation keys in byte order, as the wrapper sorts them. */
static int by_key(const void *a, const void *b) {
  const struct request *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->name, y->name, n);
  return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* The requested names, or -1 when something needs the wrapper's judgement. */
static int requests(const struct jdoc *d, struct request *out, int max) {
  int ann = json_get(d, 0, "annotations");
  if (ann == -2) return -1;
  if (ann < 0) return 0;
  struct request keys[MAX_REQUESTS];
  int values[MAX_REQUESTS];
  int nk = 0;
  for (int c = d->nodes[ann].first_child; c >= 0; c = d->nodes[c].next) {
    int k = d->nodes[c].key;
    if (d->nodes[k].escaped) return -1;
    size_t len;
    const char *key = json_str(d, k, &len);
    size_t plen = strlen(ANNOTATION_PREFIX);
    if (len < plen || memcmp(key, ANNOTATION_PREFIX, plen) != 0) continue;
    if (!name_part(key + plen, len - plen, false, "_.-", 63) || nk >= MAX_REQUESTS) return -1;
    keys[nk] = (struct request){key, len};
    values[nk++] = c;
  }
  /* sort keys together with their values */
  for (int i = 1; i < nk; i++) {
    for (int j = i; j > 0 && by_key(&keys[j - 1], &keys[j]) > 0; j--) {
      struct request tk = keys[j];
      keys[j] = keys[j - 1];
      keys[j - 1] = tk;
      int tv = values[j];
      values[j] = values[j - 1];
      values[j - 1] = tv;
    }
  }
  int n = 0;
  for (int i = 0; i < nk; i++) {
    if (d->nodes[values[i]].escaped) return -1;
    size_t len;
    const char *v = json_str(d, values[i], &len);
    size_t start = 0;
    for (size_t pos = 0; pos <= len; pos++) {
      if (pos < len && v[pos] != ',') continue;
      if (!qualified_name(v + start, pos - start)) return -1;
      bool seen = false;
      for (int j = 0; j < n; j++) seen |= out[j].len == pos - start && memcmp(out[j].name, v + start, pos - start) == 0;
      if (!seen) {
        if (n >= max) return -1;
        out[n++] = (struct request){v + start, pos - start};
      }
      start = pos + 1;
    }
  }
  return n;
}

static size_t kind_len(const struct request *r) { return (size_t)((const char *)memchr(r->name, '=', r->len) - r->name); }

/* Groups requests by kind in order of first appearance, as the wrapper groups them by spec. */
static void group_by_kind(struct request *r, int n) {
  struct request sorted[MAX_REQUESTS];
  bool used[MAX_REQUESTS] = {false};
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (used[i]) continue;
    for (int j = i; j < n; j++) {
      if (!used[j] && kind_len(&r[j]) == kind_len(&r[i]) && memcmp(r[j].name, r[i].name, kind_len(&r[i])) == 0) {
        sorted[k++] = r[j];
        used[j] = true;
      }
    }
  }
  memcpy(r, sorted, (size_t)n * sizeof *r);
}

/* ------------------------------------------------------------ the merged edits */

#define MAX_EDITS 2048

struct edits {
  const struct cache_node *nodes[MAX_EDITS];
  int n_nodes;
  const struct cache_mount *mounts[MAX_EDITS];
  char *sources[MAX_EDITS];
  int n_mounts;
  const struct cache_env *envs[MAX_EDITS];
  int n_envs;
};

/* Adds a device's items; exact repeats fold, a different item for the same path needs the wrapper. */
static bool merge(struct edits *e, const struct cache_device *dev) {
  for (int i = 0; i < dev->n_nodes; i++) {
    const struct cache_node *n = &dev->nodes[i];
    bool dup = false;
    for (int j = 0; j < e->n_nodes && !dup; j++) {
      if (strcmp(e->nodes[j]->path, n->path) != 0) continue;
      if (strcmp(e->nodes[j]->device_json, n->device_json) != 0 || strcmp(e->nodes[j]->rule_json, n->rule_json) != 0 ||
          strcmp(e->nodes[j]->host, n->host) != 0)
        return false;
      dup = true;
    }
    if (!dup) {
      if (e->n_nodes >= MAX_EDITS) return false;
      e->nodes[e->n_nodes++] = n;
    }
  }
  for (int i = 0; i < dev->n_mounts; i++) {
    const struct cache_mount *m = &dev->mounts[i];
    bool dup = false;
    for (int j = 0; j < e->n_mounts && !dup; j++) {
      if (strcmp(e->mounts[j]->dest, m->dest) != 0) continue;
      if (strcmp(e->mounts[j]->host, m->host) != 0 || strcmp(e->mounts[j]->options_json, m->options_json) != 0) return false;
      dup = true;
    }
    if (!dup) {
      if (e->n_mounts >= MAX_EDITS) return false;
      e->mounts[e->n_mounts++] = m;
    }
  }
  for (int i = 0; i < dev->n_envs; i++) {
    const struct cache_env *v = &dev->envs[i];
    bool dup = false;
    for (int j = 0; j < e->n_envs && !dup; j++) {
      if (strcmp(e->envs[j]->key, v->key) != 0) continue;
      if (strcmp(e->envs[j]->entry_json, v->entry_json) != 0) return false;
      dup = true;
    }
    if (!dup) {
      if (e->n_envs >= MAX_EDITS) return false;
      e->envs[e->n_envs++] = v;
    }
  }
  return true;
}

/* ------------------------------------------------------------ clashes with the config */

/* Every string at `member` of the array's objects, checked canonical and unescaped; false on a clash. */
static bool paths_free(const struct jdoc *d, int arr, const char *member, const char *const *paths, int n) {
  if (arr < 0) return true;
  for (int c = d->nodes[arr].first_child; c >= 0; c = d->nodes[c].next) {
    int s = json_get(d, c, member);
    if (s < 0 || d->nodes[s].escaped) return false;
    size_t len;
    const char *raw = json_str(d, s, &len);
    if (!canonical(raw, len)) return false;
    for (int i = 0; i < n; i++) {
      if (strlen(paths[i]) == len && memcmp(paths[i], raw, len) == 0) return false;
    }
  }
  return true;
}

static bool env_free(const struct jdoc *d, int arr, const struct edits *e) {
  if (arr < 0) return true;
  for (int c = d->nodes[arr].first_child; c >= 0; c = d->nodes[c].next) {
    if (d->nodes[c].escaped) return false;
    size_t len;
    const char *raw = json_str(d, c, &len);
    const char *eq = memchr(raw, '=', len);
    size_t klen = eq ? (size_t)(eq - raw) : len;
    for (int i = 0; i < e->n_envs; i++) {
      if (strlen(e->envs[i]->key) == klen && memcmp(e->envs[i]->key, raw, klen) == 0) return false;
    }
  }
  return true;
}

static bool number_is(const struct jdoc *d, int n, const char *digits) {
  if (!type_is(d, n, J_NUMBER)) return false;
  size_t len = d->nodes[n].end - d->nodes[n].start;
  return strlen(digits) == len && memcmp(d->text + d->nodes[n].start, digits, len) == 0;
}

/* An allow rule for the same numbers is already there: the wrapper would fold it, so let it. */
static bool rules_free(const struct jdoc *d, int arr, const struct edits *e) {
  if (arr < 0) return true;
  for (int c = d->nodes[arr].first_child; c >= 0; c = d->nodes[c].next) {
    for (int i = 0; i < e->n_nodes; i++) {
      if (number_is(d, json_get(d, c, "major"), e->nodes[i]->major) && number_is(d, json_get(d, c, "minor"), e->nodes[i]->minor))
        return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------ host paths */

/* Resolves every host path; none may be missing or lie inside the container's rootfs. */
static bool pin_host_paths(struct edits *e, const char *bundle, const struct jdoc *d) {
  char rootfs[PATH_MAX];
  bool have_rootfs = false;
  int root = json_get(d, 0, "root");
  if (root >= 0) {
    int p = json_get(d, root, "path");
    if (d->nodes[p].escaped) return false;
    size_t len;
    const char *raw = json_str(d, p, &len);
    char joined[PATH_MAX * 2];
    int w = raw[0] == '/' ? snprintf(joined, sizeof joined, "%.*s", (int)len, raw)
                          : snprintf(joined, sizeof joined, "%s/%.*s", bundle, (int)len, raw);
    if (w < 0 || (size_t)w >= sizeof joined) return false;
    if (realpath(joined, rootfs) != NULL) have_rootfs = true;
    else if (errno != ENOENT && errno != ENOTDIR) return false;
  }
  char real[PATH_MAX];
  for (int i = 0; i < e->n_nodes; i++) {
    if (realpath(e->nodes[i]->host, real) == NULL || (have_rootfs && within(real, rootfs))) return false;
  }
  for (int i = 0; i < e->n_mounts; i++) {
    if (realpath(e->mounts[i]->host, real) == NULL || (have_rootfs && within(real, rootfs)) || !json_safe(real)) return false;
    e->sources[i] = strdup(real);
    if (e->sources[i] == NULL) return false;
  }
  return true;
}

/* ------------------------------------------------------------ splicing */

struct insertion {
  size_t at;
  struct buf text;
};

#define MAX_INSERTIONS 8

struct splice {
  struct insertion ins[MAX_INSERTIONS];
  int n;
};

static struct buf *insert_at(struct splice *s, size_t at) {
  struct insertion *i = &s->ins[s->n++];
  i->at = at;
  memset(&i->text, 0, sizeof i->text);
  return &i->text;
}

static bool empty_container(const struct jdoc *d, int n) { return d->nodes[n].first_child < 0; }

/* Items appended to an array, or a new `"key":[items]` member placed first in `obj`. */
static void add_items(struct splice *s, const struct jdoc *d, int arr, int obj, const char *key, const struct buf *items) {
  if (arr >= 0) {
    struct buf *b = insert_at(s, d->nodes[arr].end - 1);
    if (!empty_container(d, arr)) puts_(b, ",");
    put(b, items->data, items->len);
    return;
  }
  struct buf *b = insert_at(s, d->nodes[obj].start + 1);
  puts_(b, "\"");
  puts_(b, key);
  puts_(b, "\":[");
  put(b, items->data, items->len);
  puts_(b, "]");
  if (!empty_container(d, obj)) puts_(b, ",");
}

static void item(struct buf *b, const char *json) {
  if (b->len > 0) puts_(b, ",");
  puts_(b, json);
}

/* ------------------------------------------------------------ files */

static char *read_config(const char *file, size_t *len, mode_t *mode) {
  struct stat st;
  if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *text = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_BYTES) goto out;
  text = malloc((size_t)st.st_size + 1);
  if (text == NULL) goto out;
  size_t off = 0;
  while (off < (size_t)st.st_size) {
    ssize_t r = read(fd, text + off, (size_t)st.st_size - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    off += (size_t)r;
  }
  if (off != (size_t)st.st_size) {
    free(text);
    text = NULL;
    goto out;
  }
  text[off] = '\0';
  *len = off;
  *mode = st.st_mode & 07777;
out:
  close(fd);
  return text;
}

static bool write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* Temp file in the bundle, fsync, rename over config.json, fsync the directory. */
static bool write_atomic(const char *bundle, const char *file, const struct jdoc *d, const struct splice *s, mode_t mode) {
  char tmp[PATH_MAX];
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int w = snprintf(tmp, sizeof tmp, "%s/.config.json.%ld.%ld.tmp", bundle, (long)getpid(), now.tv_nsec);
  if (w < 0 || (size_t)w >= sizeof tmp) return false;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return false;
  bool ok = fchmod(fd, mode) == 0;
  size_t from = 0;
  for (int i = 0; i < s->n && ok; i++) {
    ok = write_all(fd, d->text + from, s->ins[i].at - from) && write_all(fd, s->ins[i].text.data, s->ins[i].text.len);
    from = s->ins[i].at;
  }
  ok = ok && write_all(fd, d->text + from, d->len - from) && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, file) != 0) {
    unlink(tmp);
    return false;
  }
  int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return true;
}

static int by_position(const void *a, const void *b) {
  const struct insertion *x = a, *y = b;
  return (x->at > y->at) - (x->at < y->at);
}

/* ------------------------------------------------------------ the whole step */

enum inject_result inject_bundle(const struct runc_args *args, const struct cache *cache, char *injected, size_t injected_len) {
  if (cache->env_selection) return INJECT_DELEGATE;
  const char *bundle = args->bundle ? args->bundle : ".";
  char file[PATH_MAX];
  int w = snprintf(file, sizeof file, "%s/config.json", bundle);
  if (w < 0 || (size_t)w >= sizeof file) return INJECT_DELEGATE;
  size_t len;
  mode_t mode;
  char *text = read_config(file, &len, &mode);
  if (text == NULL) return INJECT_DELEGATE;
  struct jdoc doc;
  if (json_parse(&doc, text, len) != 0 || !shape_ok(&doc)) return INJECT_DELEGATE;

  struct request req[MAX_REQUESTS];
  int n = requests(&doc, req, MAX_REQUESTS);
  if (n < 0) return INJECT_DELEGATE;
  if (n == 0) return INJECT_NOTHING;
  group_by_kind(req, n);

  static struct edits e;
  memset(&e, 0, sizeof e);
  struct buf names = {0};
  for (int i = 0; i < n; i++) {
    const struct cache_device *dev = cache_find(cache, req[i].name, req[i].len);
    if (dev == NULL || !merge(&e, dev)) return INJECT_DELEGATE;
    if (names.len > 0) puts_(&names, ", ");
    put(&names, req[i].name, req[i].len);
  }

  int process = json_get(&doc, 0, "process");
  int linux_ = json_get(&doc, 0, "linux");
  int mounts = json_get(&doc, 0, "mounts");
  if (process < 0 || linux_ < 0 || mounts == -2 || empty_container(&doc, linux_)) return INJECT_DELEGATE;
  int env = json_get(&doc, process, "env");
  int devices = json_get(&doc, linux_, "devices");
  int resources = json_get(&doc, linux_, "resources");
  int rules = resources >= 0 ? json_get(&doc, resources, "devices") : -1;
  if (env == -2 || devices == -2 || resources == -2 || rules == -2) return INJECT_DELEGATE;

  const char *node_paths[MAX_EDITS];
  for (int i = 0; i < e.n_nodes; i++) node_paths[i] = e.nodes[i]->path;
  const char *dests[MAX_EDITS];
  for (int i = 0; i < e.n_mounts; i++) dests[i] = e.mounts[i]->dest;
  if (!paths_free(&doc, devices, "path", node_paths, e.n_nodes) || !paths_free(&doc, mounts, "destination", dests, e.n_mounts) ||
      !env_free(&doc, env, &e) || !rules_free(&doc, rules, &e) || !pin_host_paths(&e, bundle, &doc))
    return INJECT_DELEGATE;

  struct buf dev_items = {0}, rule_items = {0}, mount_items = {0}, env_items = {0};
  for (int i = 0; i < e.n_nodes; i++) {
    item(&dev_items, e.nodes[i]->device_json);
    bool repeat = false;
    for (int j = 0; j < i; j++) repeat |= strcmp(e.nodes[j]->rule_json, e.nodes[i]->rule_json) == 0;
    if (!repeat) item(&rule_items, e.nodes[i]->rule_json);
  }
  for (int i = 0; i < e.n_mounts; i++) {
    if (mount_items.len > 0) puts_(&mount_items, ",");
    puts_(&mount_items, "{\"destination\":");
    puts_(&mount_items, e.mounts[i]->dest_json);
    puts_(&mount_items, ",\"type\":\"bind\",\"source\":\"");
    puts_(&mount_items, e.sources[i]);
    puts_(&mount_items, "\",\"options\":");
    puts_(&mount_items, e.mounts[i]->options_json);
    puts_(&mount_items, "}");
  }
  for (int i = 0; i < e.n_envs; i++) item(&env_items, e.envs[i]->entry_json);

  struct splice s = {.n = 0};
  if (e.n_nodes > 0) {
    add_items(&s, &doc, devices, linux_, "devices", &dev_items);
    if (resources >= 0) {
      add_items(&s, &doc, rules, resources, "devices", &rule_items);
    } else {
      struct buf wrapped = {0};
      puts_(&wrapped, "{\"devices\":[");
      put(&wrapped, rule_items.data, rule_items.len);
      puts_(&wrapped, "]}");
      struct buf *b = insert_at(&s, doc.nodes[linux_].start + 1);
      puts_(b, "\"resources\":");
      put(b, wrapped.data, wrapped.len);
      puts_(b, ",");
    }
  }
  if (e.n_mounts > 0) add_items(&s, &doc, mounts, 0, "mounts", &mount_items);
  if (e.n_envs > 0) add_items(&s, &doc, env, process, "env", &env_items);
  for (int i = 0; i < s.n; i++) {
    if (s.ins[i].text.failed) return INJECT_DELEGATE;
  }
  if (dev_items.failed || rule_items.failed || mount_items.failed || env_items.failed || names.failed) return INJECT_DELEGATE;
  qsort(s.ins, (size_t)s.n, sizeof s.ins[0], by_position);
  if (!write_atomic(bundle, file, &doc, &s, mode)) return INJECT_DELEGATE;
  snprintf(injected, injected_len, "%s", names.data ? names.data : "");
  return INJECT_DONE;
}
