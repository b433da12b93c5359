#include "nvml_queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WANTED_EVENTS \
  (nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError)

static nvml_failure ok(void) {
  nvml_failure f;
  memset(&f, 0, sizeof f);
  return f;
}

nvml_failure nvml_failed(const nvml_api *api, nvmlReturn_t code, const char *function) {
  nvml_failure f = {code, function, ""};
  const char *text = api != NULL && api->error_string != NULL ? api->error_string(code) : NULL;
  snprintf(f.message, sizeof f.message, "%s", text != NULL ? text : "Unknown Error");
  return f;
}

/* Keeps the first real failure; "not supported" is an answer, not a failure. */
static nvmlReturn_t note(const nvml_api *api, nvml_failure *first, nvmlReturn_t rc, const char *function) {
  if (rc != NVML_SUCCESS && rc != NVML_ERROR_NOT_SUPPORTED && first->code == NVML_SUCCESS) {
    *first = nvml_failed(api, rc, function);
  }
  return rc;
}

/* A missing optional entry point means the driver cannot answer: the same as "not supported". */
#define CALL(first, fn, name, ...) \
  note(api, (first), (fn) != NULL ? (fn)(__VA_ARGS__) : NVML_ERROR_NOT_SUPPORTED, (name))

static nvml_failure count_devices(const nvml_api *api, unsigned int *count) {
  nvmlReturn_t rc = api->device_count(count);
  if (rc != NVML_SUCCESS) return nvml_failed(api, rc, "nvmlDeviceGetCount_v2");
  if (*count > QUERY_MAX_DEVICES) *count = QUERY_MAX_DEVICES;
  return ok();
}

nvml_failure query_devices(const nvml_api *api, device_record **records, unsigned int *count) {
  nvml_failure f = count_devices(api, count);
  if (f.code != NVML_SUCCESS) return f;
  device_record *out = calloc(*count > 0 ? *count : 1, sizeof *out);
  if (out == NULL) return nvml_failed(api, NVML_ERROR_MEMORY, "calloc");
  for (unsigned int i = 0; i < *count; i++) {
    device_record *r = &out[i];
    nvmlDevice_t d;
    r->index = i;
    if (note(api, &r->error, api->device_handle(i, &d), "nvmlDeviceGetHandleByIndex_v2") != NVML_SUCCESS) {
      r->uuid_rc = r->name_rc = r->pci_rc = r->minor_rc = r->memory_rc = r->mode_rc = r->error.code;
      continue;
    }
    r->uuid_rc = CALL(&r->error, api->uuid, "nvmlDeviceGetUUID", d, r->uuid, sizeof r->uuid);
    r->name_rc = CALL(&r->error, api->name, "nvmlDeviceGetName", d, r->name, sizeof r->name);
    r->pci_rc = CALL(&r->error, api->pci_info, "nvmlDeviceGetPciInfo_v3", d, &r->pci);
    r->minor_rc = CALL(&r->error, api->minor, "nvmlDeviceGetMinorNumber", d, &r->minor);
    r->memory_rc = CALL(&r->error, api->memory, "nvmlDeviceGetMemoryInfo", d, &r->memory);
    r->mode_rc = CALL(&r->error, api->virtualization_mode, "nvmlDeviceGetVirtualizationMode", d, &r->mode);
  }
  *records = out;
  return ok();
}

nvml_failure query_samples(const nvml_api *api, sample_record **records, unsigned int *count) {
  nvml_failure f = count_devices(api, count);
  if (f.code != NVML_SUCCESS) return f;
  sample_record *out = calloc(*count > 0 ? *count : 1, sizeof *out);
  if (out == NULL) return nvml_failed(api, NVML_ERROR_MEMORY, "calloc");
  for (unsigned int i = 0; i < *count; i++) {
    sample_record *r = &out[i];
    nvmlDevice_t d;
    r->index = i;
    if (note(api, &r->error, api->device_handle(i, &d), "nvmlDeviceGetHandleByIndex_v2") != NVML_SUCCESS) {
      nvmlReturn_t rc = r->error.code;
      r->uuid_rc = r->util_rc = r->memory_rc = r->temperature_rc = r->power_rc = rc;
      r->clock_sm_rc = r->clock_mem_rc = r->ecc_corrected_rc = r->ecc_uncorrected_rc = rc;
      continue;
    }
    r->uuid_rc = CALL(&r->error, api->uuid, "nvmlDeviceGetUUID", d, r->uuid, sizeof r->uuid);
    r->util_rc = CALL(&r->error, api->utilization, "nvmlDeviceGetUtilizationRates", d, &r->util);
    r->memory_rc = CALL(&r->error, api->memory, "nvmlDeviceGetMemoryInfo", d, &r->memory);
    r->temperature_rc =
        CALL(&r->error, api->temperature, "nvmlDeviceGetTemperature", d, NVML_TEMPERATURE_GPU, &r->temperature);
    r->power_rc = CALL(&r->error, api->power, "nvmlDeviceGetPowerUsage", d, &r->power_mw);
    r->clock_sm_rc = CALL(&r->error, api->clock, "nvmlDeviceGetClockInfo", d, NVML_CLOCK_SM, &r->clock_sm);
    r->clock_mem_rc = CALL(&r->error, api->clock, "nvmlDeviceGetClockInfo", d, NVML_CLOCK_MEM, &r->clock_mem);
    r->ecc_corrected_rc = CALL(&r->error, api->ecc, "nvmlDeviceGetTotalEccErrors", d, NVML_MEMORY_ERROR_TYPE_CORRECTED,
                               NVML_VOLATILE_ECC, &r->ecc_corrected);
    r->ecc_uncorrected_rc = CALL(&r->error, api->ecc, "nvmlDeviceGetTotalEccErrors", d,
                                 NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &r->ecc_uncorrected);
  }
  *records = out;
  return ok();
}

/*
 * Creates the set and registers each device for the event types it supports.
 * A device that refuses (lost, or no event support) is left out rather than
 * failing the whole set: the others still deserve health events.
 */
static nvml_failure events_arm(const nvml_api *api, event_state *events) {
  if (api->event_set_create == NULL || api->register_events == NULL || api->event_set_wait == NULL ||
      api->event_set_free == NULL) {
    return nvml_failed(api, NVML_ERROR_FUNCTION_NOT_FOUND, "nvmlEventSetCreate");
  }
  unsigned int count;
  nvml_failure f = count_devices(api, &count);
  if (f.code != NVML_SUCCESS) return f;
  nvmlReturn_t rc = api->event_set_create(&events->set);
  if (rc != NVML_SUCCESS) return nvml_failed(api, rc, "nvmlEventSetCreate");
  events->device_count = count;
  for (unsigned int i = 0; i < count; i++) {
    nvmlDevice_t d = NULL;
    events->devices[i] = NULL;
    if (api->device_handle(i, &d) != NVML_SUCCESS) continue;
    events->devices[i] = d;
    unsigned long long types = WANTED_EVENTS;
    unsigned long long supported;
    if (api->supported_events != NULL && api->supported_events(d, &supported) == NVML_SUCCESS) types &= supported;
    if (types != 0) api->register_events(d, types, events->set);
  }
  events->ready = 1;
  return ok();
}

static void fill_event(const nvml_api *api, const event_state *events, const nvmlEventData_t *data,
                       event_record *out) {
  out->index = -1;
  for (unsigned int i = 0; i < events->device_count; i++) {
    if (events->devices[i] != NULL && events->devices[i] == data->device) out->index = (int)i;
  }
  out->uuid_rc = api->uuid != NULL ? api->uuid(data->device, out->uuid, sizeof out->uuid) : NVML_ERROR_NOT_SUPPORTED;
  out->type = data->eventType;
  out->data = data->eventData;
}

nvml_failure query_events(const nvml_api *api, event_state *events, unsigned int timeout_ms, event_record *out,
                          unsigned int *count) {
  *count = 0;
  if (!events->ready) {
    nvml_failure f = events_arm(api, events);
    if (f.code != NVML_SUCCESS) return f;
  }
  while (*count < QUERY_MAX_EVENTS) {
    nvmlEventData_t data;
    memset(&data, 0, sizeof data);
    /* Only the first wait blocks; the rest collect what is already queued. */
    nvmlReturn_t rc = api->event_set_wait(events->set, &data, *count == 0 ? timeout_ms : 0);
    if (rc == NVML_ERROR_TIMEOUT) break;
    if (rc != NVML_SUCCESS) {
      /* Events already taken must not be lost; the error shows again on the next wait. */
      if (*count > 0) break;
      return nvml_failed(api, rc, "nvmlEventSetWait_v2");
    }
    fill_event(api, events, &data, &out[(*count)++]);
  }
  return ok();
}

void events_release(const nvml_api *api, event_state *events) {
  if (events->ready && api->event_set_free != NULL) api->event_set_free(events->set);
  events->ready = 0;
}
