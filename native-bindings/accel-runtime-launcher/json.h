/*
 * A validating JSON reader that builds a flat tree of byte spans over the
 * input. The launcher never decodes or rewrites JSON: it locates the few
 * values it needs and inserts pre-rendered text, so every node only records
 * where it starts and ends. Strings with escapes are flagged, and callers
 * treat them as "not understood" rather than decoding them.
 */
#ifndef ACCEL_LAUNCHER_JSON_H
#define ACCEL_LAUNCHER_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct jnode {
  enum jtype type;
  size_t start;     /* first byte of the value (the quote of a string) */
  size_t end;       /* one past its last byte */
  int first_child;  /* array elements or object member values; -1 when none */
  int next;         /* next sibling; -1 at the end */
  int key;          /* for an object member: its key's string node; else -1 */
  bool escaped;     /* a string containing a backslash escape */
};

struct jdoc {
  const char *text;
  size_t len;
  struct jnode *nodes;
  int count;
  int cap;
};

/* Parses a whole document whose top level must be an object. 0 on success. */
int json_parse(struct jdoc *doc, const char *text, size_t len);
void json_free(struct jdoc *doc);

/*
 * The member `key` of object `obj`: its node index, -1 when absent, -2 when
 * the answer is uncertain (the key occurs twice, or some key is escaped).
 */
int json_get(const struct jdoc *doc, int obj, const char *key);

/* The raw bytes between a string's quotes (no escapes to undo when !escaped). */
const char *json_str(const struct jdoc *doc, int node, size_t *len);

/* True when string node `node` equals `s` byte for byte and has no escapes. */
bool json_str_eq(const struct jdoc *doc, int node, const char *s);

#endif
