/*
 * accel_nvml: NVML for Node through Node-API, without linking against NVML.
 *
 * JS API (every call returns a Promise; NVML runs on libuv's worker pool):
 *   init(libraryPath)         -> { session, driverVersion, nvmlVersion, cudaDriverVersion, deviceCount }
 *   devices(session)          -> [{ index, uuid, name, pciBusId, pciDeviceId, pciSubsystemId, minor,
 *                                   memoryTotalBytes, virtualizationMode, error? }]
 *   sample(session)           -> [{ index, uuid, utilGpu, utilMemory, memoryUsedBytes, memoryTotalBytes,
 *                                   temperatureC, powerMilliwatts, clockSmMHz, clockMemMHz,
 *                                   eccCorrected, eccUncorrected, error? }]
 *   waitEvents(session, ms)   -> [{ index, uuid, type: 'xid'|'ecc_single'|'ecc_double', data }]
 *   shutdown(session)         -> undefined (idempotent)
 * A value the device does not support is null; a device that fails carries
 * `error: { code, function, message }` instead of failing the call. Rejections
 * are Errors with `nvmlCode` and `nvmlFunction`.
 *
 * Each session owns its dlopen handle. Queries hold the session's lock for
 * reading and shutdown for writing, so the library is never unloaded under a
 * running call.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml_loader.h"
#include "nvml_queries.h"

#define MAX_PATH_LEN 4096
#define MAX_WAIT_MS 1000

typedef struct {
  pthread_rwlock_t lock;
  nvml_api api; /* guarded by lock */
  int open;     /* guarded by lock */
  event_state events;
  /* touched on the JS thread only */
  int waiting;
  unsigned int inflight;
  int finalized;
} session;

typedef enum { OP_INIT, OP_DEVICES, OP_SAMPLE, OP_EVENTS, OP_SHUTDOWN } op_kind;

typedef struct {
  op_kind kind;
  const char *method;
  napi_async_work work;
  napi_deferred deferred;
  napi_ref session_ref;
  session *s;
  nvml_failure failure;
  char detail[MAX_PATH_LEN + 256]; /* replaces failure.message when set (loader errors) */
  char path[MAX_PATH_LEN];
  unsigned int timeout_ms;
  /* init */
  nvmlReturn_t driver_rc, nvml_rc, cuda_rc;
  char driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  char nvml_version[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
  int cuda_driver_version;
  unsigned int device_count;
  /* devices / sample / events */
  device_record *devices;
  sample_record *samples;
  unsigned int count;
  event_record events[QUERY_MAX_EVENTS];
} op;

/* Distinguishes our session externals from any other external handed in. */
static const napi_type_tag SESSION_TAG = {0x6163636c6e766d6cULL, 0x73657373696f6e31ULL};

#define CHECK(env, call)                                          \
  do {                                                            \
    if ((call) != napi_ok) {                                      \
      napi_throw_error((env), NULL, "accel_nvml: " #call " failed"); \
      return NULL;                                                \
    }                                                             \
  } while (0)

static void session_free(session *s) {
  pthread_rwlock_destroy(&s->lock);
  free(s);
}

/* Closes the library if still open. The caller holds the write lock. */
static void session_close_locked(session *s) {
  if (!s->open) return;
  events_release(&s->api, &s->events);
  s->api.shutdown();
  nvml_unload(&s->api);
  s->open = 0;
}

static void session_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  session *s = data;
  /* Waits for any call still running on a worker (possible only at environment teardown). */
  pthread_rwlock_wrlock(&s->lock);
  session_close_locked(s);
  pthread_rwlock_unlock(&s->lock);
  s->finalized = 1;
  if (s->inflight == 0) session_free(s);
}

static session *session_new(void) {
  session *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* A shutdown must not starve behind a stream of queries. */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int rc = pthread_rwlock_init(&s->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (rc != 0) {
    free(s);
    return NULL;
  }
  return s;
}

/* ---- worker side ---- */

static void closed_failure(op *o) {
  o->failure.code = NVML_ERROR_UNINITIALIZED;
  o->failure.function = o->method;
  snprintf(o->detail, sizeof o->detail, "NVML session is shut down");
}

static void execute_init(op *o) {
  session *s = o->s;
  nvmlReturn_t rc = nvml_load(o->path, &s->api, o->detail, sizeof o->detail);
  if (rc != NVML_SUCCESS) {
    o->failure.code = rc;
    o->failure.function = rc == NVML_ERROR_LIBRARY_NOT_FOUND ? "dlopen" : "dlsym";
    return;
  }
  rc = s->api.init();
  if (rc != NVML_SUCCESS) {
    o->failure = nvml_failed(&s->api, rc, "nvmlInit_v2");
    nvml_unload(&s->api);
    return;
  }
  rc = s->api.device_count(&o->device_count);
  if (rc != NVML_SUCCESS) {
    o->failure = nvml_failed(&s->api, rc, "nvmlDeviceGetCount_v2");
    s->api.shutdown();
    nvml_unload(&s->api);
    return;
  }
  o->driver_rc = s->api.driver_version != NULL ? s->api.driver_version(o->driver_version, sizeof o->driver_version)
                                               : NVML_ERROR_NOT_SUPPORTED;
  o->nvml_rc = s->api.nvml_version != NULL ? s->api.nvml_version(o->nvml_version, sizeof o->nvml_version)
                                           : NVML_ERROR_NOT_SUPPORTED;
  o->cuda_rc = s->api.cuda_driver_version != NULL ? s->api.cuda_driver_version(&o->cuda_driver_version)
                                                  : NVML_ERROR_NOT_SUPPORTED;
  s->open = 1;
}

static void execute(napi_env env, void *data) {
  (void)env;
  op *o = data;
  session *s = o->s;
  if (o->kind == OP_INIT) {
    execute_init(o);
    return;
  }
  if (o->kind == OP_SHUTDOWN) {
    pthread_rwlock_wrlock(&s->lock);
    session_close_locked(s);
    pthread_rwlock_unlock(&s->lock);
    return;
  }
  pthread_rwlock_rdlock(&s->lock);
  if (!s->open) closed_failure(o);
  else if (o->kind == OP_DEVICES) o->failure = query_devices(&s->api, &o->devices, &o->count);
  else if (o->kind == OP_SAMPLE) o->failure = query_samples(&s->api, &o->samples, &o->count);
  else o->failure = query_events(&s->api, &s->events, o->timeout_ms, o->events, &o->count);
  pthread_rwlock_unlock(&s->lock);
}

/* ---- JS side ---- */

static napi_value js_null(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static napi_value js_number(napi_env env, double n) {
  napi_value v;
  napi_create_double(env, n, &v);
  return v;
}

static napi_value js_string(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value number_or_null(napi_env env, nvmlReturn_t rc, double n) {
  return rc == NVML_SUCCESS ? js_number(env, n) : js_null(env);
}

static napi_value string_or_null(napi_env env, nvmlReturn_t rc, const char *s) {
  return rc == NVML_SUCCESS ? js_string(env, s) : js_null(env);
}

static void set(napi_env env, napi_value obj, const char *key, napi_value value) {
  napi_set_named_property(env, obj, key, value);
}

static napi_value failure_object(napi_env env, const nvml_failure *f) {
  napi_value obj;
  napi_create_object(env, &obj);
  set(env, obj, "code", js_number(env, f->code));
  set(env, obj, "function", js_string(env, f->function != NULL ? f->function : "unknown"));
  set(env, obj, "message", js_string(env, f->message));
  return obj;
}

static napi_value rejection(napi_env env, const op *o) {
  const char *text = o->detail[0] != '\0' ? o->detail : o->failure.message;
  const char *function = o->failure.function != NULL ? o->failure.function : o->method;
  char message[sizeof o->detail + 128];
  snprintf(message, sizeof message, "%s failed: %s", function, text);
  napi_value err;
  napi_create_error(env, NULL, js_string(env, message), &err);
  set(env, err, "nvmlCode", js_number(env, o->failure.code));
  set(env, err, "nvmlFunction", js_string(env, function));
  return err;
}

static napi_value init_result(napi_env env, op *o) {
  napi_value obj, external;
  napi_create_object(env, &obj);
  if (napi_create_external(env, o->s, session_finalize, NULL, &external) != napi_ok ||
      napi_type_tag_object(env, external, &SESSION_TAG) != napi_ok) {
    return NULL;
  }
  set(env, obj, "session", external);
  set(env, obj, "driverVersion", string_or_null(env, o->driver_rc, o->driver_version));
  set(env, obj, "nvmlVersion", string_or_null(env, o->nvml_rc, o->nvml_version));
  set(env, obj, "cudaDriverVersion", number_or_null(env, o->cuda_rc, o->cuda_driver_version));
  set(env, obj, "deviceCount", js_number(env, o->device_count));
  return obj;
}

static napi_value devices_result(napi_env env, const op *o) {
  napi_value list;
  napi_create_array_with_length(env, o->count, &list);
  for (unsigned int i = 0; i < o->count; i++) {
    const device_record *r = &o->devices[i];
    napi_value d;
    napi_create_object(env, &d);
    set(env, d, "index", js_number(env, r->index));
    set(env, d, "uuid", string_or_null(env, r->uuid_rc, r->uuid));
    set(env, d, "name", string_or_null(env, r->name_rc, r->name));
    set(env, d, "pciBusId", string_or_null(env, r->pci_rc, r->pci.busId));
    set(env, d, "pciDeviceId", number_or_null(env, r->pci_rc, r->pci.pciDeviceId));
    set(env, d, "pciSubsystemId", number_or_null(env, r->pci_rc, r->pci.pciSubSystemId));
    set(env, d, "minor", number_or_null(env, r->minor_rc, r->minor));
    set(env, d, "memoryTotalBytes", number_or_null(env, r->memory_rc, (double)r->memory.total));
    set(env, d, "virtualizationMode", number_or_null(env, r->mode_rc, r->mode));
    if (r->error.code != NVML_SUCCESS) set(env, d, "error", failure_object(env, &r->error));
    napi_set_element(env, list, i, d);
  }
  return list;
}

static napi_value samples_result(napi_env env, const op *o) {
  napi_value list;
  napi_create_array_with_length(env, o->count, &list);
  for (unsigned int i = 0; i < o->count; i++) {
    const sample_record *r = &o->samples[i];
    napi_value d;
    napi_create_object(env, &d);
    set(env, d, "index", js_number(env, r->index));
    set(env, d, "uuid", string_or_null(env, r->uuid_rc, r->uuid));
    set(env, d, "utilGpu", number_or_null(env, r->util_rc, r->util.gpu));
    set(env, d, "utilMemory", number_or_null(env, r->util_rc, r->util.memory));
    set(env, d, "memoryUsedBytes", number_or_null(env, r->memory_rc, (double)r->memory.used));
    set(env, d, "memoryTotalBytes", number_or_null(env, r->memory_rc, (double)r->memory.total));
    set(env, d, "temperatureC", number_or_null(env, r->temperature_rc, r->temperature));
    set(env, d, "powerMilliwatts", number_or_null(env, r->power_rc, r->power_mw));
    set(env, d, "clockSmMHz", number_or_null(env, r->clock_sm_rc, r->clock_sm));
    set(env, d, "clockMemMHz", number_or_null(env, r->clock_mem_rc, r->clock_mem));
    set(env, d, "eccCorrected", number_or_null(env, r->ecc_corrected_rc, (double)r->ecc_corrected));
    set(env, d, "eccUncorrected", number_or_null(env, r->ecc_uncorrected_rc, (double)r->ecc_uncorrected));
    if (r->error.code != NVML_SUCCESS) set(env, d, "error", failure_object(env, &r->error));
    napi_set_element(env, list, i, d);
  }
  return list;
}

static const char *event_type_name(unsigned long long type) {
  if (type == nvmlEventTypeXidCriticalError) return "xid";
  if (type == nvmlEventTypeSingleBitEccError) return "ecc_single";
  if (type == nvmlEventTypeDoubleBitEccError) return "ecc_double";
  return NULL;
}

static napi_value events_result(napi_env env, const op *o) {
  napi_value list;
  napi_create_array(env, &list);
  uint32_t n = 0;
  for (unsigned int i = 0; i < o->count; i++) {
    const event_record *r = &o->events[i];
    const char *type = event_type_name(r->type);
    if (type == NULL) continue; /* never registered for, so never expected */
    napi_value e;
    napi_create_object(env, &e);
    set(env, e, "index", r->index >= 0 ? js_number(env, r->index) : js_null(env));
    set(env, e, "uuid", string_or_null(env, r->uuid_rc, r->uuid));
    set(env, e, "type", js_string(env, type));
    set(env, e, "data", js_number(env, (double)r->data));
    napi_set_element(env, list, n++, e);
  }
  return list;
}

static void op_free(napi_env env, op *o) {
  if (o->session_ref != NULL) napi_delete_reference(env, o->session_ref);
  napi_delete_async_work(env, o->work);
  free(o->devices);
  free(o->samples);
  free(o);
}

static void complete(napi_env env, napi_status status, void *data) {
  op *o = data;
  session *s = o->s;
  napi_value result = NULL;
  if (status == napi_ok && o->failure.code == NVML_SUCCESS) {
    switch (o->kind) {
      case OP_INIT: result = init_result(env, o); break;
      case OP_DEVICES: result = devices_result(env, o); break;
      case OP_SAMPLE: result = samples_result(env, o); break;
      case OP_EVENTS: result = events_result(env, o); break;
      case OP_SHUTDOWN: napi_get_undefined(env, &result); break;
    }
  }
  if (o->kind == OP_EVENTS) s->waiting = 0;
  if (result == NULL && o->failure.code == NVML_SUCCESS) {
    o->failure.code = NVML_ERROR_UNKNOWN;
    snprintf(o->detail, sizeof o->detail, status == napi_cancelled ? "the call was cancelled" : "cannot build the result");
  }
  if (o->kind == OP_INIT && result == NULL) {
    /* No session object was handed out, so nothing else will close or free this one. */
    pthread_rwlock_wrlock(&s->lock);
    session_close_locked(s);
    pthread_rwlock_unlock(&s->lock);
    session_free(s);
  } else if (o->kind != OP_INIT) {
    s->inflight--;
    if (s->finalized && s->inflight == 0) session_free(s);
  }
  if (result != NULL) napi_resolve_deferred(env, o->deferred, result);
  else napi_reject_deferred(env, o->deferred, rejection(env, o));
  op_free(env, o);
}

/* Queues `o` and returns its promise; on failure frees `o` and throws. */
static napi_value start(napi_env env, op *o, napi_value session_value) {
  napi_value promise, name;
  if (napi_create_promise(env, &o->deferred, &promise) != napi_ok) {
    free(o);
    napi_throw_error(env, NULL, "accel_nvml: cannot create a promise");
    return NULL;
  }
  if (session_value != NULL) napi_create_reference(env, session_value, 1, &o->session_ref);
  napi_create_string_utf8(env, o->method, NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, execute, complete, o, &o->work) != napi_ok ||
      napi_queue_async_work(env, o->work) != napi_ok) {
    o->failure.code = NVML_ERROR_UNKNOWN;
    snprintf(o->detail, sizeof o->detail, "cannot queue work");
    napi_reject_deferred(env, o->deferred, rejection(env, o));
    if (o->session_ref != NULL) napi_delete_reference(env, o->session_ref);
    if (o->kind == OP_EVENTS) o->s->waiting = 0;
    if (o->kind == OP_INIT) session_free(o->s);
    free(o);
    return promise;
  }
  if (o->kind != OP_INIT) o->s->inflight++;
  return promise;
}

static op *op_new(napi_env env, op_kind kind, const char *method) {
  op *o = calloc(1, sizeof *o);
  if (o == NULL) {
    napi_throw_error(env, NULL, "accel_nvml: out of memory");
    return NULL;
  }
  o->kind = kind;
  o->method = method;
  return o;
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_string) {
    napi_throw_type_error(env, NULL, "init(libraryPath): libraryPath must be a string");
    return NULL;
  }
  op *o = op_new(env, OP_INIT, "init");
  if (o == NULL) return NULL;
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[0], NULL, 0, &len);
  if (len == 0 || len >= sizeof o->path) {
    free(o);
    napi_throw_type_error(env, NULL, "init(libraryPath): libraryPath is empty or too long");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], o->path, sizeof o->path, &len);
  /* A bare name would make dlopen search the agent's own library path: only absolute paths are accepted. */
  if (o->path[0] != '/' || strlen(o->path) != len) {
    free(o);
    napi_throw_type_error(env, NULL, "init(libraryPath): libraryPath must be an absolute path without NUL bytes");
    return NULL;
  }
  o->s = session_new();
  if (o->s == NULL) {
    free(o);
    napi_throw_error(env, NULL, "accel_nvml: cannot create a session");
    return NULL;
  }
  return start(env, o, NULL);
}

/* Reads and checks the session argument; throws a TypeError for anything else. */
static session *session_arg(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  bool ours = false;
  void *data = NULL;
  if (value != NULL) napi_typeof(env, value, &type);
  if (type != napi_external || napi_check_object_type_tag(env, value, &SESSION_TAG, &ours) != napi_ok || !ours ||
      napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an NVML session returned by init()");
    return NULL;
  }
  return data;
}

static napi_value session_call(napi_env env, napi_callback_info info, op_kind kind, const char *method) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session *s = session_arg(env, argc >= 1 ? argv[0] : NULL);
  if (s == NULL) return NULL;
  op *o = op_new(env, kind, method);
  if (o == NULL) return NULL;
  o->s = s;
  if (kind == OP_EVENTS) {
    double ms = -1;
    napi_valuetype type = napi_undefined;
    if (argc >= 2) napi_typeof(env, argv[1], &type);
    if (type == napi_number) napi_get_value_double(env, argv[1], &ms);
    if (!(ms >= 0)) {
      free(o);
      napi_throw_type_error(env, NULL, "waitEvents(session, timeoutMs): timeoutMs must be a number >= 0");
      return NULL;
    }
    /* Each wait holds a worker thread: keep it short and let the caller loop. */
    o->timeout_ms = ms > MAX_WAIT_MS ? MAX_WAIT_MS : (unsigned int)ms;
    if (s->waiting) {
      napi_value promise;
      napi_create_promise(env, &o->deferred, &promise);
      o->failure.code = NVML_ERROR_IN_USE;
      snprintf(o->detail, sizeof o->detail, "another waitEvents is already running on this session");
      napi_reject_deferred(env, o->deferred, rejection(env, o));
      free(o);
      return promise;
    }
    s->waiting = 1;
  }
  return start(env, o, argv[0]);
}

static napi_value js_devices(napi_env env, napi_callback_info info) {
  return session_call(env, info, OP_DEVICES, "devices");
}

static napi_value js_sample(napi_env env, napi_callback_info info) { return session_call(env, info, OP_SAMPLE, "sample"); }

static napi_value js_wait_events(napi_env env, napi_callback_info info) {
  return session_call(env, info, OP_EVENTS, "waitEvents");
}

static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  return session_call(env, info, OP_SHUTDOWN, "shutdown");
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"devices", NULL, js_devices, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sample", NULL, js_sample, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitEvents", NULL, js_wait_events, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
