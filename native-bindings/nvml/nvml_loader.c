#define _GNU_SOURCE
#include "nvml_loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  size_t offset;
  const char *name;
  int required;
} entry_point;

#define ENTRY(field, symbol, required) {offsetof(nvml_api, field), symbol, required}

static const entry_point ENTRY_POINTS[] = {
    ENTRY(init, "nvmlInit_v2", 1),
    ENTRY(shutdown, "nvmlShutdown", 1),
    ENTRY(error_string, "nvmlErrorString", 1),
    ENTRY(device_count, "nvmlDeviceGetCount_v2", 1),
    ENTRY(device_handle, "nvmlDeviceGetHandleByIndex_v2", 1),
    ENTRY(driver_version, "nvmlSystemGetDriverVersion", 0),
    ENTRY(nvml_version, "nvmlSystemGetNVMLVersion", 0),
    ENTRY(cuda_driver_version, "nvmlSystemGetCudaDriverVersion", 0),
    ENTRY(name, "nvmlDeviceGetName", 0),
    ENTRY(uuid, "nvmlDeviceGetUUID", 0),
    ENTRY(pci_info, "nvmlDeviceGetPciInfo_v3", 0),
    ENTRY(minor, "nvmlDeviceGetMinorNumber", 0),
    ENTRY(memory, "nvmlDeviceGetMemoryInfo", 0),
    ENTRY(utilization, "nvmlDeviceGetUtilizationRates", 0),
    ENTRY(temperature, "nvmlDeviceGetTemperature", 0),
    ENTRY(power, "nvmlDeviceGetPowerUsage", 0),
    ENTRY(clock, "nvmlDeviceGetClockInfo", 0),
    ENTRY(ecc, "nvmlDeviceGetTotalEccErrors", 0),
    ENTRY(virtualization_mode, "nvmlDeviceGetVirtualizationMode", 0),
    ENTRY(event_set_create, "nvmlEventSetCreate", 0),
    ENTRY(register_events, "nvmlDeviceRegisterEvents", 0),
    ENTRY(supported_events, "nvmlDeviceGetSupportedEventTypes", 0),
    ENTRY(event_set_wait, "nvmlEventSetWait_v2", 0),
    ENTRY(event_set_free, "nvmlEventSetFree", 0),
};

nvmlReturn_t nvml_load(const char *path, nvml_api *api, char *why, size_t why_len) {
  memset(api, 0, sizeof *api);
  /* RTLD_NOW surfaces a broken library here rather than mid-call; RTLD_LOCAL keeps its symbols private. */
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    const char *err = dlerror();
    /* dlerror() already names the file. */
    snprintf(why, why_len, "%s", err != NULL ? err : "unknown dlopen error");
    return NVML_ERROR_LIBRARY_NOT_FOUND;
  }
  for (size_t i = 0; i < sizeof ENTRY_POINTS / sizeof ENTRY_POINTS[0]; i++) {
    void *symbol = dlsym(library, ENTRY_POINTS[i].name);
    if (symbol == NULL && ENTRY_POINTS[i].required) {
      snprintf(why, why_len, "%s has no %s", path, ENTRY_POINTS[i].name);
      dlclose(library);
      memset(api, 0, sizeof *api);
      return NVML_ERROR_FUNCTION_NOT_FOUND;
    }
    memcpy((char *)api + ENTRY_POINTS[i].offset, &symbol, sizeof symbol);
  }
  api->library = library;
  return NVML_SUCCESS;
}

void nvml_unload(nvml_api *api) {
  if (api->library != NULL) dlclose(api->library);
  memset(api, 0, sizeof *api);
}
