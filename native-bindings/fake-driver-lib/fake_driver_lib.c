/*
 * One source for every fake driver library: each build gets its own soname
 * (FAKE_SONAME) and, for libraries programs actually call into, the entry
 * points those programs need (FAKE_CUDA, FAKE_HGRT). They are genuine ELF
 * shared objects so the dynamic loader, ldconfig and container injection
 * treat them exactly like the vendor's files.
 */
#include <stdlib.h>

#include "../common/stub_conf_locate.h"

#ifndef FAKE_SONAME
#error "FAKE_SONAME must name the library being built"
#endif

#define FAKE_API __attribute__((visibility("default")))

/* Lets a test ask a loaded object which fake it is. */
FAKE_API const char *accelFakeDriverLibrary(void) { return FAKE_SONAME; }

#ifdef FAKE_CUDA
#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define DEFAULT_CUDA_DRIVER_VERSION 11040

FAKE_API int cuInit(unsigned int flags) { return flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }

/* Reports the simulated driver's CUDA version, so the NVML stub and libcuda agree. */
FAKE_API int cuDriverGetVersion(int *version) {
  if (version == NULL) return CUDA_ERROR_INVALID_VALUE;
  char path[4096], value[32];
  *version = DEFAULT_CUDA_DRIVER_VERSION;
  if (stub_state_path((const void *)cuDriverGetVersion, STUB_CONF_ENV, STUB_CONF_NAME, path, sizeof path) == 0 &&
      stub_conf_value(path, "cuda_driver_version", value, sizeof value)) {
    char *end;
    long v = strtol(value, &end, 10);
    if (*end == '\0' && v > 0 && v < 1000000) *version = (int)v;
  }
  return CUDA_SUCCESS;
}
#endif

#ifdef FAKE_HGRT
/* The HanGuang runtime's real signature is not public; this one only proves the library loads. */
FAKE_API int hgrtGetVersion(int *version) {
  if (version == NULL) return -1;
  *version = 1;
  return 0;
}
#endif
