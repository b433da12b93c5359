/*
 * The simulated driver's event source: an append-only text file of lines
 * `<device index> <xid|ecc_single|ecc_double> <data>`. Readers keep a byte
 * offset, so only lines appended after an event set was created reach it.
 */
#ifndef ACCEL_NVML_STUB_EVENTS_H
#define ACCEL_NVML_STUB_EVENTS_H

typedef struct {
  unsigned int conf_index;
  unsigned long long type; /* one nvmlEventType* bit */
  unsigned long long data;
} stub_event;

/* The file's current size, or 0 when it does not exist. */
long long stub_events_end(const char *path);

/*
 * Reads the next well-formed complete line at or after `*offset`, skipping
 * malformed ones, and moves `*offset` past what it consumed. Returns 1 with
 * `*out` filled, or 0 when no complete line is there yet. A file that shrank
 * below the offset was replaced: reading restarts at its new end.
 */
int stub_events_next(const char *path, long long *offset, stub_event *out);

#endif
