/*
 * Blocking until the simulated driver's files change. A real
 * nvmlEventSetWait sleeps in the kernel until an event or the timeout; the
 * stub gets the same near-zero idle cost from inotify on the directory that
 * holds its conf and events files, instead of re-reading them every few
 * milliseconds.
 */
#ifndef ACCEL_NVML_STUB_WATCH_H
#define ACCEL_NVML_STUB_WATCH_H

/*
 * Starts watching the directory of `file` for writes, renames and removals.
 * Returns a descriptor, or -1 when inotify is unavailable (the caller then
 * polls on a short sleep instead).
 */
int stub_watch_open(const char *file);

/*
 * Waits up to `timeout_ms` for a change seen by `*watch` (or sleeps
 * `fallback_ms` at most when it is -1). Returns 0 only when the watch saw
 * nothing change, so the files need no new look. A watch whose directory
 * went is closed and set to -1, as by `stub_watch_changed`.
 */
int stub_watch_wait(int *watch, unsigned int timeout_ms, unsigned int fallback_ms);

/*
 * Whether anything changed since the last look, without blocking: drains what
 * `*watch` queued. When the watched directory itself is gone, the watch can
 * tell nothing more: it is closed, *watch becomes -1 and the answer is yes.
 */
int stub_watch_changed(int *watch);

void stub_watch_close(int watch);

/* Sleeps `ms` milliseconds, resuming after signals; also the stub's injected call delays. */
void stub_sleep_ms(unsigned int ms);

#endif
