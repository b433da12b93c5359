/*
 * NVML reached through dlopen: the agent must start on hosts without the
 * driver, so nothing links against libnvidia-ml. Entry points the agent can
 * live without are optional (NULL); their queries then count as unsupported.
 */
#ifndef ACCEL_NVML_LOADER_H
#define ACCEL_NVML_LOADER_H

#include <stddef.h>

#include "../common/nvml_abi.h"

typedef struct {
  void *library;
  /* required */
  nvmlInit_v2_fn init;
  nvmlShutdown_fn shutdown;
  nvmlErrorString_fn error_string;
  nvmlDeviceGetCount_v2_fn device_count;
  nvmlDeviceGetHandleByIndex_v2_fn device_handle;
  /* optional */
  nvmlSystemGetString_fn driver_version;
  nvmlSystemGetString_fn nvml_version;
  nvmlSystemGetCudaDriverVersion_fn cuda_driver_version;
  nvmlDeviceGetString_fn name;
  nvmlDeviceGetString_fn uuid;
  nvmlDeviceGetPciInfo_v3_fn pci_info;
  nvmlDeviceGetUint_fn minor;
  nvmlDeviceGetMemoryInfo_fn memory;
  nvmlDeviceGetUtilizationRates_fn utilization;
  nvmlDeviceGetTemperature_fn temperature;
  nvmlDeviceGetUint_fn power;
  nvmlDeviceGetClockInfo_fn clock;
  nvmlDeviceGetTotalEccErrors_fn ecc;
  nvmlDeviceGetVirtualizationMode_fn virtualization_mode;
  nvmlEventSetCreate_fn event_set_create;
  nvmlDeviceRegisterEvents_fn register_events;
  nvmlDeviceGetSupportedEventTypes_fn supported_events;
  nvmlEventSetWait_v2_fn event_set_wait;
  nvmlEventSetFree_fn event_set_free;
} nvml_api;

/*
 * Opens the library at `path` and resolves its entry points. On failure
 * returns NVML_ERROR_LIBRARY_NOT_FOUND or NVML_ERROR_FUNCTION_NOT_FOUND with
 * the reason in `why`, and leaves nothing open.
 */
nvmlReturn_t nvml_load(const char *path, nvml_api *api, char *why, size_t why_len);

void nvml_unload(nvml_api *api);

#endif
