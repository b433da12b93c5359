#include "json.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128

struct parser {
  struct jdoc *doc;
  size_t pos;
  int depth;
};

static int new_node(struct parser *p, enum jtype type, size_t start) {
  struct jdoc *d = p->doc;
  if (d->count == d->cap) {
    int cap = d->cap == 0 ? 256 : d->cap * 2;
    struct jnode *grown = realloc(d->nodes, (size_t)cap * sizeof *grown);
    if (grown == NULL) return -1;
    d->nodes = grown;
    d->cap = cap;
  }
  struct jnode *n = &d->nodes[d->count];
  n->type = type;
  n->start = start;
  n->end = start;
  n->first_child = -1;
  n->next = -1;
  n->key = -1;
  n->escaped = false;
  return d->count++;
}

static void skip_ws(struct parser *p) {
  const char *t = p->doc->text;
  while (p->pos < p->doc->len && (t[p->pos] == ' ' || t[p->pos] == '\t' || t[p->pos] == '\n' || t[p->pos] == '\r')) p->pos++;
}

static bool at(const struct parser *p, char c) { return p->pos < p->doc->len && p->doc->text[p->pos] == c; }

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_value(struct parser *p);

static int parse_string(struct parser *p) {
  const char *t = p->doc->text;
  int n = new_node(p, J_STRING, p->pos);
  if (n < 0) return -1;
  p->pos++; /* opening quote */
  bool escaped = false;
  for (;;) {
    if (p->pos >= p->doc->len) return -1;
    unsigned char c = (unsigned char)t[p->pos];
    if (c == '"') break;
    if (c < 0x20) return -1;
    if (c == '\\') {
      escaped = true;
      if (++p->pos >= p->doc->len) return -1;
      char e = t[p->pos];
      if (e == 'u') {
        if (p->pos + 4 >= p->doc->len) return -1;
        for (int i = 1; i <= 4; i++) if (!is_hex(t[p->pos + i])) return -1;
        p->pos += 4;
      } else if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
        return -1;
      }
    }
    p->pos++;
  }
  p->pos++; /* closing quote */
  p->doc->nodes[n].end = p->pos;
  p->doc->nodes[n].escaped = escaped;
  return n;
}

static int parse_number(struct parser *p) {
  const char *t = p->doc->text;
  size_t len = p->doc->len;
  int n = new_node(p, J_NUMBER, p->pos);
  if (n < 0) return -1;
  if (at(p, '-')) p->pos++;
  if (at(p, '0')) {
    p->pos++;
  } else if (p->pos < len && t[p->pos] >= '1' && t[p->pos] <= '9') {
    while (p->pos < len && is_digit(t[p->pos])) p->pos++;
  } else {
    return -1;
  }
  if (at(p, '.')) {
    p->pos++;
    if (p->pos >= len || !is_digit(t[p->pos])) return -1;
    while (p->pos < len && is_digit(t[p->pos])) p->pos++;
  }
  if (at(p, 'e') || at(p, 'E')) {
    p->pos++;
    if (at(p, '+') || at(p, '-')) p->pos++;
    if (p->pos >= len || !is_digit(t[p->pos])) return -1;
    while (p->pos < len && is_digit(t[p->pos])) p->pos++;
  }
  p->doc->nodes[n].end = p->pos;
  return n;
}

static int parse_literal(struct parser *p, const char *word, enum jtype type) {
  size_t wl = strlen(word);
  if (p->doc->len - p->pos < wl || memcmp(p->doc->text + p->pos, word, wl) != 0) return -1;
  int n = new_node(p, type, p->pos);
  if (n < 0) return -1;
  p->pos += wl;
  p->doc->nodes[n].end = p->pos;
  return n;
}

/* Appends `child` to `parent`'s children; `last` tracks the current tail. */
static void link_child(struct jdoc *d, int parent, int *last, int child) {
  if (*last < 0) d->nodes[parent].first_child = child;
  else d->nodes[*last].next = child;
  *last = child;
}

static int parse_container(struct parser *p, bool object) {
  if (++p->depth > MAX_DEPTH) return -1;
  int n = new_node(p, object ? J_OBJECT : J_ARRAY, p->pos);
  if (n < 0) return -1;
  p->pos++;
  skip_ws(p);
  int last = -1;
  char close = object ? '}' : ']';
  if (!at(p, close)) {
    for (;;) {
      int key = -1;
      if (object) {
        if (!at(p, '"')) return -1;
        key = parse_string(p);
        if (key < 0) return -1;
        skip_ws(p);
        if (!at(p, ':')) return -1;
        p->pos++;
        skip_ws(p);
      }
      int v = parse_value(p);
      if (v < 0) return -1;
      p->doc->nodes[v].key = key;
      link_child(p->doc, n, &last, v);
      skip_ws(p);
      if (at(p, ',')) {
        p->pos++;
        skip_ws(p);
        continue;
      }
      if (at(p, close)) break;
      return -1;
    }
  }
  p->pos++;
  p->doc->nodes[n].end = p->pos;
  p->depth--;
  return n;
}

static int parse_value(struct parser *p) {
  if (p->pos >= p->doc->len) return -1;
  switch (p->doc->text[p->pos]) {
    case '{': return parse_container(p, true);
    case '[': return parse_container(p, false);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", J_BOOL);
    case 'f': return parse_literal(p, "false", J_BOOL);
    case 'n': return parse_literal(p, "null", J_NULL);
    default: return parse_number(p);
  }
}

int json_parse(struct jdoc *doc, const char *text, size_t len) {
  memset(doc, 0, sizeof *doc);
  doc->text = text;
  doc->len = len;
  struct parser p = {doc, 0, 0};
  skip_ws(&p);
  if (!at(&p, '{')) return -1;
  if (parse_value(&p) != 0) return -1;
  skip_ws(&p);
  return p.pos == len ? 0 : -1;
}

void json_free(struct jdoc *doc) {
  free(doc->nodes);
  doc->nodes = NULL;
  doc->count = doc->cap = 0;
}

const char *json_str(const struct jdoc *doc, int node, size_t *len) {
  const struct jnode *n = &doc->nodes[node];
  *len = n->end - n->start - 2;
  return doc->text + n->start + 1;
}

bool json_str_eq(const struct jdoc *doc, int node, const char *s) {
  if (node < 0 || doc->nodes[node].type != J_STRING || doc->nodes[node].escaped) return false;
  size_t len;
  const char *raw = json_str(doc, node, &len);
  return len == strlen(s) && memcmp(raw, s, len) == 0;
}

int json_get(const struct jdoc *doc, int obj, const char *key) {
  if (obj < 0 || doc->nodes[obj].type != J_OBJECT) return -1;
  int found = -1;
  for (int c = doc->nodes[obj].first_child; c >= 0; c = doc->nodes[c].next) {
    int k = doc->nodes[c].key;
    if (doc->nodes[k].escaped) return -2;
    if (json_str_eq(doc, k, key)) {
      if (found >= 0) return -2;
      found = c;
    }
  }
  return found;
}
