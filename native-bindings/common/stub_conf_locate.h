/*
 * Where the simulated driver keeps its state: `nvml-stub.conf` beside the
 * shared object that asks (so a copy of the stub inside a simulated host root
 * reads that host's state), unless ACCEL_NVML_STUB_CONF names another file.
 * Shared by the NVML stub, the fake CUDA library and the fake nvidia-smi.
 */
#ifndef ACCEL_STUB_CONF_LOCATE_H
#define ACCEL_STUB_CONF_LOCATE_H

#include <stddef.h>

#define STUB_CONF_ENV "ACCEL_NVML_STUB_CONF"
#define STUB_EVENTS_ENV "ACCEL_NVML_STUB_EVENTS"
#define STUB_CONF_NAME "nvml-stub.conf"
#define STUB_EVENTS_NAME "nvml-stub.events"

/*
 * Writes into `out` the file named by `env_name` if set, else `file_name` in
 * the directory of the shared object containing `symbol`. Returns 0 on
 * success, -1 when the path cannot be found or does not fit.
 */
int stub_state_path(const void *symbol, const char *env_name, const char *file_name, char *out, size_t out_len);

/*
 * Cuts a state-file line down to its statement: drops the line end, a comment
 * (a `#` at the start or after a space, so values may still contain `#`) and
 * trailing spaces. Returns the new length.
 */
size_t stub_line_strip(char *line);

/*
 * Copies into `value` the rest of the first line of `path` that begins with
 * `key` and a space. Returns 1 when found, 0 when not (or unreadable).
 */
int stub_conf_value(const char *path, const char *key, char *value, size_t value_len);

#endif
