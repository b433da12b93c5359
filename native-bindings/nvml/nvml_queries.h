/*
 * The NVML work the addon runs on worker threads. Everything here is plain C
 * over an nvml_api table, with no Node types, so results are gathered into
 * records off the event loop and only turned into JS values afterwards.
 */
#ifndef ACCEL_NVML_QUERIES_H
#define ACCEL_NVML_QUERIES_H

#include "nvml_loader.h"

#define QUERY_TEXT_LEN 96
#define QUERY_MAX_DEVICES 1024
#define QUERY_MAX_EVENTS 64

#define QUERY_MESSAGE_LEN 128

/*
 * A failed call: which entry point, NVML's answer and its text. The text is
 * copied because the library (and the strings it owns) may be unloaded
 * before the result reaches JavaScript. `code` is NVML_SUCCESS when nothing failed.
 */
typedef struct {
  nvmlReturn_t code;
  const char *function;
  char message[QUERY_MESSAGE_LEN];
} nvml_failure;

/* Describes a failure with the library's own error text. */
nvml_failure nvml_failed(const nvml_api *api, nvmlReturn_t code, const char *function);

/* Each `*_rc` is the answer for the value beside it; NOT_SUPPORTED becomes null in JS. */
typedef struct {
  unsigned int index;
  nvml_failure error; /* first failure other than "not supported" */
  nvmlReturn_t uuid_rc, name_rc, pci_rc, minor_rc, memory_rc, mode_rc;
  char uuid[QUERY_TEXT_LEN];
  char name[QUERY_TEXT_LEN];
  nvmlPciInfo_t pci;
  unsigned int minor;
  nvmlMemory_t memory;
  nvmlGpuVirtualizationMode_t mode;
} device_record;

typedef struct {
  unsigned int index;
  nvml_failure error;
  nvmlReturn_t uuid_rc, util_rc, memory_rc, temperature_rc, power_rc, clock_sm_rc, clock_mem_rc;
  nvmlReturn_t ecc_corrected_rc, ecc_uncorrected_rc;
  char uuid[QUERY_TEXT_LEN];
  nvmlUtilization_t util;
  nvmlMemory_t memory;
  unsigned int temperature, power_mw, clock_sm, clock_mem;
  unsigned long long ecc_corrected, ecc_uncorrected;
} sample_record;

/* The event set of one session, created on first use and registered for every device then present. */
typedef struct {
  int ready;
  nvmlEventSet_t set;
  unsigned int device_count;
  nvmlDevice_t devices[QUERY_MAX_DEVICES];
} event_state;

typedef struct {
  int index; /* -1 when the event names a device the set does not know */
  nvmlReturn_t uuid_rc;
  char uuid[QUERY_TEXT_LEN];
  unsigned long long type;
  unsigned long long data;
} event_record;

/* Fills a malloc'd array of one record per device; the caller frees it. */
nvml_failure query_devices(const nvml_api *api, device_record **records, unsigned int *count);

nvml_failure query_samples(const nvml_api *api, sample_record **records, unsigned int *count);

/* Waits up to `timeout_ms` for events, then drains whatever else is already queued. */
nvml_failure query_events(const nvml_api *api, event_state *events, unsigned int timeout_ms, event_record *out,
                          unsigned int *count);

void events_release(const nvml_api *api, event_state *events);

#endif
