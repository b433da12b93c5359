/*
 * The simulated driver's event source: an append-only text file of lines
 * `<device index> <xid|ecc_single|ecc_double> <data>`. Readers keep a cursor,
 * so only lines appended after an event set was created reach it.
 */
#ifndef ACCEL_NVML_STUB_EVENTS_H
#define ACCEL_NVML_STUB_EVENTS_H

typedef struct {
  unsigned int conf_index;
  unsigned long long type; /* one nvmlEventType* bit */
  unsigned long long data;
} stub_event;

/* How far a reader got in the events file, and which file that was. */
typedef struct {
  long long offset;
  unsigned long long inode; /* 0 while the file does not exist */
} stub_events_cursor;

/* Places the cursor at the file's current end: only later lines will be read. */
void stub_events_cursor_at_end(const char *path, stub_events_cursor *cursor);

/*
 * Reads the next well-formed complete line after the cursor, skipping
 * malformed ones, and moves the cursor past what it consumed. Returns 1 with
 * `*out` filled, or 0 when no complete line is there yet. A file that was
 * truncated or replaced holds only new lines, so reading restarts at its start.
 */
int stub_events_next(const char *path, stub_events_cursor *cursor, stub_event *out);

#endif
