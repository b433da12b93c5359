/*
 * A test double for libnvidia-ml.so.1: the NVML entry points the agent uses,
 * with NVML's ABI and error behaviour, answering from nvml-stub.conf (see
 * stub_state.h) instead of a GPU. Every entry point takes one mutex, because
 * the agent calls NVML from several worker threads at once, and re-reads the
 * conf when the file changes so tests can alter the "hardware" mid-run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/nvml_abi.h"
#include "../common/stub_conf_locate.h"
#include "stub_events.h"
#include "stub_state.h"
#include "stub_watch.h"

#define NVML_API __attribute__((visibility("default")))
#define MAX_CONF_BYTES (1 << 20)
#define MAX_EVENT_SETS 32
/* Without inotify the wait re-reads the files this often. */
#define EVENT_POLL_MS 5
/* Even with inotify, a wait wakes this often to notice nvmlShutdown from another thread. */
#define EVENT_WAKE_MS 250
#define SUPPORTED_EVENTS \
  (nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError | nvmlEventTypeXidCriticalError)

/* A handle is an address inside `handles`; its slot number is the device's position. */
struct nvmlDevice_st {
  char unused;
};

struct nvmlEventSet_st {
  int in_use;
  stub_events_cursor cursor; /* how much of the events file this set has seen */
  unsigned long long masks[STUB_MAX_DEVICES];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int init_count;
static char conf_path[PATH_MAX];
/* Watches the conf's directory from init to the last shutdown; -1 means stat on every call instead. */
static int conf_watch = -1;
static char events_path[PATH_MAX];
static int state_loaded;
static stub_state state;
static stub_state scratch;
static struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} stamp;
static struct nvmlDevice_st handles[STUB_MAX_DEVICES];
static struct nvmlEventSet_st sets[MAX_EVENT_SETS];

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void warn_line(unsigned int line_no, const char *reason, void *ctx) {
  fprintf(stderr, "nvml-stub: %s line %u ignored: %s\n", (const char *)ctx, line_no, reason);
}

/* Re-reads the conf when its identity, size or mtime changed; keeps the last good state otherwise. */
static int unchanged(const struct stat *st) {
  return state_loaded && st->st_dev == stamp.dev && st->st_ino == stamp.ino && st->st_size == stamp.size &&
         st->st_mtim.tv_sec == stamp.mtime.tv_sec && st->st_mtim.tv_nsec == stamp.mtime.tv_nsec;
}

static void refresh_locked(void) {
  static char text[MAX_CONF_BYTES];
  struct stat st;
  /*
   * Every NVML call lands here, some 170 times a second for a 16-GPU agent.
   * inotify queues a change before the writer's call returns, so an empty
   * queue proves the loaded state current at the cost of one read, not a
   * path walk; only after a change does the stat decide.
   */
  if (state_loaded && conf_watch >= 0 && !stub_watch_changed(&conf_watch)) return;
  if (stat(conf_path, &st) == 0 && unchanged(&st)) return;
  int fd = open(conf_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  if (unchanged(&st)) {
    close(fd);
    return;
  }
  size_t len = 0;
  ssize_t n;
  while (len < sizeof text && (n = read(fd, text + len, sizeof text - len)) > 0) len += (size_t)n;
  close(fd);
  if (len == sizeof text) {
    fprintf(stderr, "nvml-stub: %s is larger than %d bytes; not read\n", conf_path, MAX_CONF_BYTES);
    return;
  }
  stub_state_parse(text, len, &scratch, warn_line, conf_path);
  state = scratch;
  state_loaded = 1;
  stamp.dev = st.st_dev;
  stamp.ino = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime = st.st_mtim;
}

/* The shared start of every entry point but init: refuses before init, then applies delay and fail rules. */
static nvmlReturn_t enter(const char *function) {
  pthread_mutex_lock(&lock);
  if (init_count == 0) {
    pthread_mutex_unlock(&lock);
    return NVML_ERROR_UNINITIALIZED;
  }
  refresh_locked();
  unsigned int delay = stub_rule_find(state.delays, state.delay_count, function);
  unsigned int fail = stub_rule_find(state.fails, state.fail_count, function);
  pthread_mutex_unlock(&lock);
  if (delay > 0) stub_sleep_ms(delay);
  return fail > 0 ? (nvmlReturn_t)fail : NVML_SUCCESS;
}

static int handle_position(nvmlDevice_t device, unsigned int *position) {
  uintptr_t p = (uintptr_t)device, base = (uintptr_t)handles;
  if (p < base || p >= base + sizeof handles || (p - base) % sizeof handles[0] != 0) return 0;
  *position = (unsigned int)((p - base) / sizeof handles[0]);
  return *position < state.device_count;
}

/*
 * The shared start of every per-device query. On NVML_SUCCESS the lock is
 * held and `*out` is the device; the caller finishes with leave().
 */
static nvmlReturn_t enter_device(const char *function, nvmlDevice_t device, const void *result,
                                 const stub_device **out) {
  nvmlReturn_t rc = enter(function);
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  unsigned int position;
  if (!handle_position(device, &position) || result == NULL) rc = NVML_ERROR_INVALID_ARGUMENT;
  else if (state.devices[position].lost) rc = NVML_ERROR_GPU_IS_LOST;
  if (rc != NVML_SUCCESS) {
    pthread_mutex_unlock(&lock);
    return rc;
  }
  *out = &state.devices[position];
  return NVML_SUCCESS;
}

static nvmlReturn_t leave(nvmlReturn_t rc) {
  pthread_mutex_unlock(&lock);
  return rc;
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src) {
  if (dst == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  size_t need = strlen(src) + 1;
  if (need > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(dst, src, need);
  return NVML_SUCCESS;
}

static nvmlReturn_t init_as(const char *function) {
  pthread_mutex_lock(&lock);
  if (init_count == 0) {
    /* A fresh start looks for the files again: the environment may name others now. */
    state_loaded = 0;
    if (stub_state_path((const void *)init_as, STUB_CONF_ENV, STUB_CONF_NAME, conf_path, sizeof conf_path) != 0 ||
        stub_state_path((const void *)init_as, STUB_EVENTS_ENV, STUB_EVENTS_NAME, events_path, sizeof events_path) !=
            0) {
      pthread_mutex_unlock(&lock);
      return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    stub_watch_close(conf_watch);
    conf_watch = stub_watch_open(conf_path);
  }
  refresh_locked();
  if (!state_loaded) {
    pthread_mutex_unlock(&lock);
    return NVML_ERROR_DRIVER_NOT_LOADED;
  }
  unsigned int delay = stub_rule_find(state.delays, state.delay_count, function);
  unsigned int fail = stub_rule_find(state.fails, state.fail_count, function);
  pthread_mutex_unlock(&lock);
  if (delay > 0) stub_sleep_ms(delay);
  if (fail > 0) return (nvmlReturn_t)fail;
  pthread_mutex_lock(&lock);
  init_count++;
  pthread_mutex_unlock(&lock);
  return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlInit_v2(void) { return init_as("nvmlInit_v2"); }

NVML_API nvmlReturn_t nvmlInit(void) { return init_as("nvmlInit"); }

NVML_API nvmlReturn_t nvmlShutdown(void) {
  nvmlReturn_t rc = enter("nvmlShutdown");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  if (init_count == 0) return leave(NVML_ERROR_UNINITIALIZED);
  if (--init_count == 0) {
    memset(sets, 0, sizeof sets);
    stub_watch_close(conf_watch);
    conf_watch = -1;
  }
  return leave(NVML_SUCCESS);
}

NVML_API const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt Request Issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources";
    case NVML_ERROR_NOT_READY: return "Not ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    default: return "Unknown Error";
  }
}

static nvmlReturn_t system_string(const char *function, char *buf, unsigned int length, int nvml_version) {
  nvmlReturn_t rc = enter(function);
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  const char *value = nvml_version ? state.nvml_version : state.driver_version;
  if (buf == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  if (value[0] == '\0') return leave(NVML_ERROR_NOT_SUPPORTED);
  return leave(copy_string(buf, length, value));
}

NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  return system_string("nvmlSystemGetDriverVersion", version, length, 0);
}

NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
  return system_string("nvmlSystemGetNVMLVersion", version, length, 1);
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) {
  nvmlReturn_t rc = enter("nvmlSystemGetCudaDriverVersion");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  if (version == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  if (state.cuda_driver_version == 0) return leave(NVML_ERROR_NOT_SUPPORTED);
  *version = state.cuda_driver_version;
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  nvmlReturn_t rc = enter("nvmlDeviceGetCount_v2");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  if (count == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  *count = state.device_count;
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  nvmlReturn_t rc = enter("nvmlDeviceGetHandleByIndex_v2");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  if (device == NULL || index >= state.device_count) return leave(NVML_ERROR_INVALID_ARGUMENT);
  if (state.devices[index].lost) return leave(NVML_ERROR_GPU_IS_LOST);
  *device = &handles[index];
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetName", device, name, &d);
  if (rc != NVML_SUCCESS) return rc;
  return leave((d->keys & KEY_NAME) ? copy_string(name, length, d->name) : NVML_ERROR_NOT_SUPPORTED);
}

NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetUUID", device, uuid, &d);
  if (rc != NVML_SUCCESS) return rc;
  return leave((d->keys & KEY_UUID) ? copy_string(uuid, length, d->uuid) : NVML_ERROR_NOT_SUPPORTED);
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetPciInfo_v3", device, pci, &d);
  if (rc != NVML_SUCCESS) return rc;
  if (!(d->keys & KEY_PCI_BUS_ID)) return leave(NVML_ERROR_NOT_SUPPORTED);
  memset(pci, 0, sizeof *pci);
  pci->domain = d->pci_domain;
  pci->bus = d->pci_bus;
  pci->device = d->pci_device;
  pci->pciDeviceId = d->pci_device_id;
  pci->pciSubSystemId = d->pci_subsystem_id;
  snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.%X", d->pci_domain, d->pci_bus, d->pci_device,
           d->pci_function);
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.%X", d->pci_domain & 0xffff, d->pci_bus,
           d->pci_device, d->pci_function);
  return leave(NVML_SUCCESS);
}

static nvmlReturn_t device_uint(const char *function, nvmlDevice_t device, unsigned int *out, unsigned int key,
                                size_t field_offset) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device(function, device, out, &d);
  if (rc != NVML_SUCCESS) return rc;
  if (!(d->keys & key)) return leave(NVML_ERROR_NOT_SUPPORTED);
  memcpy(out, (const char *)d + field_offset, sizeof *out);
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor) {
  return device_uint("nvmlDeviceGetMinorNumber", device, minor, KEY_MINOR, offsetof(stub_device, minor));
}

NVML_API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  return device_uint("nvmlDeviceGetPowerUsage", device, power, KEY_POWER, offsetof(stub_device, power_mw));
}

NVML_API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                               unsigned int *temp) {
  if (sensor != NVML_TEMPERATURE_GPU) {
    nvmlReturn_t rc = enter("nvmlDeviceGetTemperature");
    return rc != NVML_SUCCESS ? rc : NVML_ERROR_INVALID_ARGUMENT;
  }
  return device_uint("nvmlDeviceGetTemperature", device, temp, KEY_TEMPERATURE, offsetof(stub_device, temperature));
}

NVML_API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetClockInfo", device, clock, &d);
  if (rc != NVML_SUCCESS) return rc;
  if ((unsigned int)type > NVML_CLOCK_VIDEO) return leave(NVML_ERROR_INVALID_ARGUMENT);
  if (type == NVML_CLOCK_SM && (d->keys & KEY_CLOCK_SM)) *clock = d->clock_sm;
  else if (type == NVML_CLOCK_MEM && (d->keys & KEY_CLOCK_MEM)) *clock = d->clock_mem;
  else return leave(NVML_ERROR_NOT_SUPPORTED);
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetMemoryInfo", device, memory, &d);
  if (rc != NVML_SUCCESS) return rc;
  if (!(d->keys & KEY_MEMORY_TOTAL)) return leave(NVML_ERROR_NOT_SUPPORTED);
  unsigned long long mib = 1024ull * 1024ull;
  unsigned long long used = d->memory_used_mib > d->memory_total_mib ? d->memory_total_mib : d->memory_used_mib;
  memory->total = d->memory_total_mib * mib;
  memory->used = used * mib;
  memory->free = memory->total - memory->used;
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetUtilizationRates", device, utilization, &d);
  if (rc != NVML_SUCCESS) return rc;
  if ((d->keys & (KEY_UTIL_GPU | KEY_UTIL_MEMORY)) != (KEY_UTIL_GPU | KEY_UTIL_MEMORY)) {
    return leave(NVML_ERROR_NOT_SUPPORTED);
  }
  utilization->gpu = d->util_gpu;
  utilization->memory = d->util_memory;
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t error_type,
                                                  nvmlEccCounterType_t counter_type, unsigned long long *count) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetTotalEccErrors", device, count, &d);
  if (rc != NVML_SUCCESS) return rc;
  if ((unsigned int)error_type > NVML_MEMORY_ERROR_TYPE_UNCORRECTED || (unsigned int)counter_type > NVML_AGGREGATE_ECC) {
    return leave(NVML_ERROR_INVALID_ARGUMENT);
  }
  /* The stub keeps one counter per kind; volatile and aggregate both report it. */
  if (error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED && (d->keys & KEY_ECC_CORRECTED)) *count = d->ecc_corrected;
  else if (error_type == NVML_MEMORY_ERROR_TYPE_UNCORRECTED && (d->keys & KEY_ECC_UNCORRECTED)) *count = d->ecc_uncorrected;
  else return leave(NVML_ERROR_NOT_SUPPORTED);
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceGetVirtualizationMode(nvmlDevice_t device, nvmlGpuVirtualizationMode_t *mode) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetVirtualizationMode", device, mode, &d);
  if (rc != NVML_SUCCESS) return rc;
  if (!(d->keys & KEY_VIRTUALIZATION_MODE)) return leave(NVML_ERROR_NOT_SUPPORTED);
  *mode = (nvmlGpuVirtualizationMode_t)d->virtualization_mode;
  return leave(NVML_SUCCESS);
}

static struct nvmlEventSet_st *live_set(nvmlEventSet_t set) {
  uintptr_t p = (uintptr_t)set, base = (uintptr_t)sets;
  if (p < base || p >= base + sizeof sets || (p - base) % sizeof sets[0] != 0) return NULL;
  return set->in_use ? set : NULL;
}

NVML_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
  nvmlReturn_t rc = enter("nvmlEventSetCreate");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  if (set == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  for (unsigned int i = 0; i < MAX_EVENT_SETS; i++) {
    if (sets[i].in_use) continue;
    memset(&sets[i], 0, sizeof sets[i]);
    sets[i].in_use = 1;
    stub_events_cursor_at_end(events_path, &sets[i].cursor);
    *set = &sets[i];
    return leave(NVML_SUCCESS);
  }
  return leave(NVML_ERROR_MEMORY);
}

/* A device may narrow the events it supports, as vGPU guests without ECC reporting do. */
static unsigned long long supported_events(const stub_device *d) {
  return (d->keys & KEY_EVENT_TYPES) ? (d->event_types & SUPPORTED_EVENTS) : SUPPORTED_EVENTS;
}

NVML_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types) {
  const stub_device *d;
  nvmlReturn_t rc = enter_device("nvmlDeviceGetSupportedEventTypes", device, types, &d);
  if (rc != NVML_SUCCESS) return rc;
  *types = supported_events(d);
  return leave(NVML_SUCCESS);
}

NVML_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set) {
  const stub_device *d;
  /* `set` stands in for the result pointer: NULL is refused the same way. */
  nvmlReturn_t rc = enter_device("nvmlDeviceRegisterEvents", device, set, &d);
  if (rc != NVML_SUCCESS) return rc;
  struct nvmlEventSet_st *s = live_set(set);
  if (s == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  if ((types & ~supported_events(d)) != 0) return leave(NVML_ERROR_NOT_SUPPORTED);
  s->masks[d - state.devices] |= types;
  return leave(NVML_SUCCESS);
}

/* One look at the events file for `set`: NVML_SUCCESS with `data` filled, NVML_ERROR_TIMEOUT for nothing yet, or an error. */
static nvmlReturn_t next_event(nvmlEventSet_t set, nvmlEventData_t *data) {
  pthread_mutex_lock(&lock);
  if (init_count == 0) return leave(NVML_ERROR_UNINITIALIZED);
  struct nvmlEventSet_st *s = live_set(set);
  if (s == NULL || data == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  refresh_locked();
  stub_event ev;
  while (stub_events_next(events_path, &s->cursor, &ev)) {
    int position = stub_device_position(&state, ev.conf_index);
    if (position < 0 || (s->masks[position] & ev.type) == 0) continue;
    data->device = &handles[position];
    data->eventType = ev.type;
    data->eventData = ev.data;
    data->gpuInstanceId = UINT_MAX; /* not a MIG instance */
    data->computeInstanceId = UINT_MAX;
    return leave(NVML_SUCCESS);
  }
  return leave(NVML_ERROR_TIMEOUT);
}

/* A look that reads no file, for wakes with nothing changed: only a shutdown or a freed set ends the wait. */
static nvmlReturn_t still_waiting(nvmlEventSet_t set) {
  pthread_mutex_lock(&lock);
  if (init_count == 0) return leave(NVML_ERROR_UNINITIALIZED);
  return leave(live_set(set) == NULL ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_TIMEOUT);
}

NVML_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
  nvmlReturn_t rc = enter("nvmlEventSetWait_v2");
  if (rc != NVML_SUCCESS) return rc;
  long long deadline = now_ms() + timeoutms;
  /* Watching starts before the first look, so a line appended in between still wakes the wait. */
  int watch = stub_watch_open(events_path);
  int changed = 1;
  for (;;) {
    /* A real driver's wait costs nothing while idle; re-reading the events file on every wake would not. */
    rc = changed ? next_event(set, data) : still_waiting(set);
    long long left = deadline - now_ms();
    if (rc != NVML_ERROR_TIMEOUT || left <= 0) break;
    changed = stub_watch_wait(&watch, left < EVENT_WAKE_MS ? (unsigned int)left : EVENT_WAKE_MS, EVENT_POLL_MS);
  }
  stub_watch_close(watch);
  return rc;
}

NVML_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  nvmlReturn_t rc = enter("nvmlEventSetFree");
  if (rc != NVML_SUCCESS) return rc;
  pthread_mutex_lock(&lock);
  struct nvmlEventSet_st *s = live_set(set);
  if (s == NULL) return leave(NVML_ERROR_INVALID_ARGUMENT);
  s->in_use = 0;
  return leave(NVML_SUCCESS);
}
