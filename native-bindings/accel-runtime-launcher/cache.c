#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "accel-runtime-launcher-cache 1"
#define MAX_CACHE_BYTES (1024 * 1024)
#define MAX_ITEMS 4096

/* A directory or file only this user can write; anyone else could decide what gets mounted. */
static bool private_to_us(const struct stat *st) {
  return st->st_uid == geteuid() && (st->st_mode & 022) == 0;
}

static char *read_cache(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return NULL;
  struct stat st;
  char *buf = NULL;
  int fd = -1;
  if (fstat(dfd, &st) != 0 || !S_ISDIR(st.st_mode) || !private_to_us(&st)) goto out;
  fd = openat(dfd, CACHE_FILE_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !private_to_us(&st)) goto out;
  if (st.st_size <= 0 || st.st_size > MAX_CACHE_BYTES) goto out;
  buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL) goto out;
  size_t off = 0;
  while (off < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    off += (size_t)r;
  }
  /* A cache always ends with a newline: anything else was cut short. */
  if (off != (size_t)st.st_size || buf[off - 1] != '\n') {
    free(buf);
    buf = NULL;
    goto out;
  }
  buf[off] = '\0';
out:
  if (fd >= 0) close(fd);
  close(dfd);
  return buf;
}

/* Splits `line` at tabs into exactly `n` fields. */
static bool fields(char *line, char **out, int n) {
  for (int i = 0; i < n; i++) {
    out[i] = line;
    char *tab = strchr(line, '\t');
    if (i == n - 1) return tab == NULL && *line != '\0';
    if (tab == NULL || tab == line) return false;
    *tab = '\0';
    line = tab + 1;
  }
  return false;
}

static bool stamp_matches(const char *rest) {
  /* "<dev> <ino> <size> <sec> <nsec> <path>": the path starts after the fifth space. */
  const char *p = rest;
  for (int i = 0; i < 5; i++) {
    p = strchr(p, ' ');
    if (p == NULL) return false;
    p++;
  }
  struct stat st;
  if (stat(p, &st) != 0) return false;
  char want[160];
  int n = snprintf(want, sizeof want, "%" PRIuMAX " %" PRIuMAX " %" PRIdMAX " %" PRIdMAX " %ld ", (uintmax_t)st.st_dev,
                   (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return n > 0 && (size_t)n < sizeof want && (size_t)(p - rest) == (size_t)n && memcmp(rest, want, (size_t)n) == 0;
}

static bool header_line(struct cache *c, char *line) {
  if (strncmp(line, "runc /", 6) == 0) {
    c->runc = line + 5;
    return true;
  }
  if (strcmp(line, "envselect 0") == 0 || strcmp(line, "envselect 1") == 0) {
    c->env_selection = line[10] == '1';
    return true;
  }
  if (strncmp(line, "setting ", 8) == 0) {
    char *eq = strchr(line + 8, '=');
    if (eq == NULL || eq == line + 8) return false;
    *eq = '\0';
    const char *now = getenv(line + 8);
    return now != NULL && strcmp(now, eq + 1) == 0;
  }
  if (strncmp(line, "unset ", 6) == 0) return line[6] != '\0' && getenv(line + 6) == NULL;
  if (strncmp(line, "stat ", 5) == 0) return stamp_matches(line + 5);
  if (strncmp(line, "absent /", 8) == 0) {
    struct stat st;
    return stat(line + 7, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
  }
  return false;
}

static bool numbers(struct cache_node *n, char *text) {
  /* "c 195 0" */
  if ((text[0] != 'c' && text[0] != 'b') || text[1] != ' ') return false;
  n->type = text[0];
  char *space = strchr(text + 2, ' ');
  if (space == NULL) return false;
  *space = '\0';
  n->major = text + 2;
  n->minor = space + 1;
  return strspn(n->major, "0123456789") == strlen(n->major) && *n->major != '\0' &&
         strspn(n->minor, "0123456789") == strlen(n->minor) && *n->minor != '\0';
}

static bool device_line(struct cache_device *d, char *line) {
  char *f[5];
  if (strncmp(line, "node ", 5) == 0) {
    if (d->n_nodes >= MAX_ITEMS || !fields(line + 5, f, 5)) return false;
    struct cache_node *n = &d->nodes[d->n_nodes++];
    n->path = f[0];
    n->host = f[1];
    n->device_json = f[3];
    n->rule_json = f[4];
    return n->path[0] == '/' && n->host[0] == '/' && numbers(n, f[2]);
  }
  if (strncmp(line, "mount ", 6) == 0) {
    if (d->n_mounts >= MAX_ITEMS || !fields(line + 6, f, 4)) return false;
    struct cache_mount *m = &d->mounts[d->n_mounts++];
    m->dest = f[0];
    m->host = f[1];
    m->dest_json = f[2];
    m->options_json = f[3];
    return m->dest[0] == '/' && m->host[0] == '/';
  }
  if (strncmp(line, "env ", 4) == 0) {
    if (d->n_envs >= MAX_ITEMS || !fields(line + 4, f, 2)) return false;
    struct cache_env *e = &d->envs[d->n_envs++];
    e->key = f[0];
    e->entry_json = f[1];
    return true;
  }
  return false;
}

/* Item arrays sized by counting the block's lines first. */
static bool alloc_items(struct cache_device *d, char *const *lines, int count) {
  int nodes = 0, mounts = 0, envs = 0;
  for (int i = 0; i < count && strcmp(lines[i], "end") != 0; i++) {
    nodes += strncmp(lines[i], "node ", 5) == 0;
    mounts += strncmp(lines[i], "mount ", 6) == 0;
    envs += strncmp(lines[i], "env ", 4) == 0;
  }
  d->nodes = calloc((size_t)nodes + 1, sizeof *d->nodes);
  d->mounts = calloc((size_t)mounts + 1, sizeof *d->mounts);
  d->envs = calloc((size_t)envs + 1, sizeof *d->envs);
  return d->nodes && d->mounts && d->envs;
}

int cache_load(const char *dir, struct cache *c) {
  memset(c, 0, sizeof *c);
  c->buf = read_cache(dir);
  if (c->buf == NULL) return -1;
  int count = 0;
  for (char *p = c->buf; *p; p++) count += *p == '\n';
  char **lines = calloc((size_t)count + 1, sizeof *lines);
  c->devices = calloc((size_t)count + 1, sizeof *c->devices);
  if (lines == NULL || c->devices == NULL) goto bad;
  char *p = c->buf;
  for (int i = 0; i < count; i++) {
    char *nl = strchr(p, '\n');
    *nl = '\0';
    lines[i] = p;
    p = nl + 1;
  }
  if (count == 0 || strcmp(lines[0], CACHE_MAGIC) != 0) goto bad;
  int i = 1;
  for (; i < count && strncmp(lines[i], "device ", 7) != 0; i++) {
    if (!header_line(c, lines[i])) goto bad;
  }
  if (c->runc == NULL) goto bad;
  while (i < count) {
    if (strncmp(lines[i], "device ", 7) != 0 || lines[i][7] == '\0') goto bad;
    struct cache_device *d = &c->devices[c->n_devices++];
    d->name = lines[i] + 7;
    if (!alloc_items(d, lines + i + 1, count - i - 1)) goto bad;
    for (i++; i < count && strcmp(lines[i], "end") != 0; i++) {
      if (!device_line(d, lines[i])) goto bad;
    }
    if (i >= count) goto bad;
    i++;
  }
  free(lines);
  return 0;
bad:
  free(lines);
  return -1;
}

const struct cache_device *cache_find(const struct cache *c, const char *name, size_t name_len) {
  for (int i = 0; i < c->n_devices; i++) {
    if (strlen(c->devices[i].name) == name_len && memcmp(c->devices[i].name, name, name_len) == 0) return &c->devices[i];
  }
  return NULL;
}
